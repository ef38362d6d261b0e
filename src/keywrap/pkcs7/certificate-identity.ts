import type { X509Certificate } from 'node:crypto';
import { printable } from '../../encoding/untrusted-text.ts';
import { DerError, childrenOf, isContext, isUniversal, octetsOf, oidOf, readElement, sequenceOf, unsignedIntegerOf, UNIVERSAL_TAG, type Tlv } from './der.ts';
import type { RecipientIdentifier } from './enveloped-data.ts';

const SUBJECT_KEY_IDENTIFIER = '2.5.29.14';

/** Short names of the attribute types seen in certificate names; others print as their OID. */
const ATTRIBUTE_NAMES: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.5', 'serialNumber'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
  ['1.2.840.113549.1.9.1', 'emailAddress'],
  ['0.9.2342.19200300.100.1.25', 'DC'],
]);

const BMP_STRING_TAG = 30;

/** Names come from the image (recipient identifiers) or from key files: printable, and short enough for one line. */
const MAX_NAME_LENGTH = 120;

/** What a RecipientInfo can name a certificate by. */
export interface CertificateIdentity {
  /** The issuer Name exactly as encoded in the certificate (the Go encoder copies these bytes). */
  issuer: Buffer;
  serial: Buffer;
  subjectKeyIdentifier: Buffer | null;
}

/**
 * Reads issuer, serial and subject key identifier from the certificate's
 * DER (node:crypto shows the issuer only as text, which cannot be compared
 * byte for byte). Null when the certificate cannot be read this way.
 */
export function certificateIdentity(certificate: X509Certificate): CertificateIdentity | null {
  try {
    const [tbs] = sequenceOf(readElement(certificate.raw), 'Certificate');
    if (tbs === undefined) return null;
    const fields = sequenceOf(tbs, 'TBSCertificate');
    // version [0] EXPLICIT is absent in v1 certificates.
    const [serial, , issuer] = fields[0] !== undefined && isContext(fields[0], 0) ? fields.slice(1) : fields;
    if (serial === undefined || issuer === undefined) return null;
    const extensions = fields.find((field) => isContext(field, 3));
    return {
      issuer: issuer.element,
      serial: unsignedIntegerOf(serial),
      subjectKeyIdentifier: extensions === undefined ? null : subjectKeyIdentifierOf(extensions.content),
    };
  } catch (error) {
    if (error instanceof DerError) return null;
    throw error;
  }
}

/** extensions [3] EXPLICIT SEQUENCE OF Extension { extnID, critical DEFAULT FALSE, extnValue OCTET STRING } */
function subjectKeyIdentifierOf(explicitContent: Buffer): Buffer | null {
  for (const extension of sequenceOf(readElement(explicitContent), 'Extensions')) {
    const [id, ...rest] = sequenceOf(extension, 'Extension');
    const value = rest.at(-1);
    if (id === undefined || value === undefined || oidOf(id) !== SUBJECT_KEY_IDENTIFIER) continue;
    // extnValue wraps the DER of SubjectKeyIdentifier ::= OCTET STRING.
    const [keyIdentifier] = childrenOf(value);
    return keyIdentifier !== undefined && isUniversal(keyIdentifier, UNIVERSAL_TAG.octetString) ? octetsOf(keyIdentifier) : null;
  }
  return null;
}

export function identifies(identifier: RecipientIdentifier, identity: CertificateIdentity): boolean {
  if (identifier.kind === 'subject-key-identifier') {
    return identity.subjectKeyIdentifier !== null && identity.subjectKeyIdentifier.equals(identifier.keyIdentifier);
  }
  return identity.serial.equals(identifier.serial) && identity.issuer.equals(identifier.issuer);
}

/** "CN=... (serial 0A1B...)": what an operator finds with `openssl x509 -subject -serial`. */
export function describeCertificate(certificate: X509Certificate): string {
  const lines = certificate.subject.split('\n');
  const name = lines.find((line) => line.startsWith('CN=')) ?? lines[0] ?? 'no subject';
  return `${printable(name, MAX_NAME_LENGTH)} (serial ${certificate.serialNumber})`;
}

/** A DER Name as "CN=..., O=...", in encoded order, for `inspect`; "?" when it cannot be read. */
export function nameText(name: Buffer): string {
  try {
    const parts = sequenceOf(readElement(name), 'Name').flatMap((relativeName) =>
      childrenOf(relativeName).map((attribute) => {
        const [type, value] = sequenceOf(attribute, 'AttributeTypeAndValue');
        if (type === undefined || value === undefined) throw new DerError('attribute without a value');
        const oid = oidOf(type);
        return `${ATTRIBUTE_NAMES.get(oid) ?? oid}=${stringValueOf(value)}`;
      }),
    );
    return printable(parts.join(', '), MAX_NAME_LENGTH);
  } catch (error) {
    if (error instanceof DerError) return '?';
    throw error;
  }
}

/** Directory strings are UTF-8 or ASCII subsets, except BMPString (UTF-16BE). */
function stringValueOf(value: Tlv): string {
  if (!isUniversal(value, BMP_STRING_TAG)) return value.content.toString('utf8');
  if (value.content.length % 2 !== 0) throw new DerError('BMPString of odd length');
  return Buffer.from(value.content).swap16().toString('utf16le');
}
