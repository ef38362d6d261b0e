import { MAX_RECIPIENTS_PER_ITEM } from '../../limits.ts';
import {
  DerError,
  childrenOf,
  isContext,
  isUniversal,
  octetsOf,
  oidOf,
  readElement,
  sequenceOf,
  unsignedIntegerOf,
  UNIVERSAL_TAG,
  type Tlv,
} from './der.ts';

/**
 * The parts of a CMS item a key-transport recipient needs: ContentInfo
 * carrying EnvelopedData (RFC 5652; what ocicrypt's Go encoder writes) or
 * AuthEnvelopedData (RFC 5083; what `openssl cms -encrypt` writes for
 * AES-GCM). Fields nobody decrypts with (originatorInfo, unprotected
 * attributes) are skipped, not checked.
 */

const CONTENT_TYPE = {
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
} as const;

/** The item is not a well-formed CMS envelope; the message says where. */
export class EnvelopeError extends Error {}

/** The item is well-formed but uses an algorithm this decoder does not implement. */
export class UnsupportedAlgorithmError extends Error {}

export interface AlgorithmIdentifier {
  oid: string;
  /** Absent and NULL parameters both read as null. */
  parameters: Tlv | null;
}

export type RecipientIdentifier =
  | { kind: 'issuer-and-serial'; issuer: Buffer; serial: Buffer }
  | { kind: 'subject-key-identifier'; keyIdentifier: Buffer };

export interface KeyTransportRecipient {
  /** Position in the item's RecipientInfos, for messages. */
  index: number;
  identifier: RecipientIdentifier;
  keyEncryption: AlgorithmIdentifier;
  encryptedKey: Buffer;
}

export interface EncryptedContent {
  algorithm: AlgorithmIdentifier;
  ciphertext: Buffer;
  /** AuthEnvelopedData's separate tag; null for EnvelopedData (GCM there appends the tag to the ciphertext). */
  mac: Buffer | null;
  /** AuthEnvelopedData's authenticated attributes as GCM additional data, when present. */
  additionalData: Buffer | null;
}

export interface Envelope {
  keyTransportRecipients: KeyTransportRecipient[];
  /** Recipients of kinds only key transport could use here: key agreement, KEK, password, other. */
  otherRecipients: string[];
  content: EncryptedContent;
}

const OTHER_RECIPIENT_KINDS = new Map([
  [1, 'key agreement'],
  [2, 'KEK'],
  [3, 'password'],
  [4, 'other'],
]);

/** Parses a DER/BER ContentInfo(EnvelopedData | AuthEnvelopedData); throws EnvelopeError saying what is wrong. */
export function parseEnvelope(item: Buffer): Envelope {
  try {
    return parseContentInfo(readElement(item));
  } catch (error) {
    if (error instanceof DerError) throw new EnvelopeError(`bad ASN.1: ${error.message}`);
    throw error;
  }
}

function parseContentInfo(contentInfo: Tlv): Envelope {
  const [contentType, explicitContent] = sequenceOf(contentInfo, 'ContentInfo');
  if (contentType === undefined || explicitContent === undefined || !isContext(explicitContent, 0)) {
    throw new EnvelopeError('not a CMS ContentInfo');
  }
  const type = oidOf(contentType);
  const [content] = childrenOf(explicitContent);
  if (content === undefined) throw new EnvelopeError('ContentInfo has no content');
  switch (type) {
    case CONTENT_TYPE.envelopedData:
      return parseEnvelopedData(content, false);
    case CONTENT_TYPE.authEnvelopedData:
      return parseEnvelopedData(content, true);
    default:
      throw new EnvelopeError(`content type ${type} is not EnvelopedData`);
  }
}

/**
 * EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos SET,
 *   encryptedContentInfo, unprotectedAttrs [1] OPTIONAL }
 * AuthEnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos SET,
 *   authEncryptedContentInfo, authAttrs [1] OPTIONAL, mac OCTET STRING, unauthAttrs [2] OPTIONAL }
 */
function parseEnvelopedData(data: Tlv, authenticated: boolean): Envelope {
  const fields = sequenceOf(data, authenticated ? 'AuthEnvelopedData' : 'EnvelopedData').slice(1);
  if (fields[0] !== undefined && isContext(fields[0], 0)) fields.shift();
  const [recipientInfos, encryptedContentInfo, ...rest] = fields;
  if (recipientInfos === undefined || !isUniversal(recipientInfos, UNIVERSAL_TAG.set)) throw new EnvelopeError('no RecipientInfos set');
  if (encryptedContentInfo === undefined) throw new EnvelopeError('no EncryptedContentInfo');

  let mac: Buffer | null = null;
  let additionalData: Buffer | null = null;
  if (authenticated) {
    const authAttributes = rest[0] !== undefined && isContext(rest[0], 1) ? rest.shift()! : null;
    const macField = rest[0];
    if (macField === undefined || !isUniversal(macField, UNIVERSAL_TAG.octetString)) throw new EnvelopeError('AuthEnvelopedData has no mac');
    mac = octetsOf(macField);
    // RFC 5083: the additional data is the DER of the attributes with their SET OF tag, not [1].
    if (authAttributes !== null) additionalData = Buffer.concat([Buffer.from([0x31]), authAttributes.element.subarray(1)]);
  }

  const envelope: Envelope = {
    keyTransportRecipients: [],
    otherRecipients: [],
    content: { ...parseEncryptedContentInfo(encryptedContentInfo), mac, additionalData },
  };
  const recipients = childrenOf(recipientInfos);
  if (recipients.length > MAX_RECIPIENTS_PER_ITEM) throw new EnvelopeError(`${recipients.length} RecipientInfos (limit ${MAX_RECIPIENTS_PER_ITEM})`);
  for (const [index, recipientInfo] of recipients.entries()) {
    if (isUniversal(recipientInfo, UNIVERSAL_TAG.sequence)) {
      envelope.keyTransportRecipients.push(parseKeyTransportRecipient(recipientInfo, index));
    } else {
      envelope.otherRecipients.push(OTHER_RECIPIENT_KINDS.get(recipientInfo.tagNumber) ?? 'unknown');
    }
  }
  return envelope;
}

/** KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey OCTET STRING } */
function parseKeyTransportRecipient(recipientInfo: Tlv, index: number): KeyTransportRecipient {
  const [, rid, keyEncryption, encryptedKey] = sequenceOf(recipientInfo, 'KeyTransRecipientInfo');
  if (rid === undefined || keyEncryption === undefined || encryptedKey === undefined) {
    throw new EnvelopeError(`recipient ${index} is incomplete`);
  }
  return {
    index,
    identifier: parseRecipientIdentifier(rid, index),
    keyEncryption: parseAlgorithmIdentifier(keyEncryption, 'keyEncryptionAlgorithm'),
    encryptedKey: octetsOf(encryptedKey),
  };
}

/** RecipientIdentifier ::= CHOICE { IssuerAndSerialNumber, subjectKeyIdentifier [0] IMPLICIT OCTET STRING } */
function parseRecipientIdentifier(rid: Tlv, index: number): RecipientIdentifier {
  if (isContext(rid, 0)) return { kind: 'subject-key-identifier', keyIdentifier: octetsOf(rid) };
  const [issuer, serial] = sequenceOf(rid, `recipient ${index} identifier`);
  if (issuer === undefined || serial === undefined || !isUniversal(issuer, UNIVERSAL_TAG.sequence)) {
    throw new EnvelopeError(`recipient ${index} has no issuer and serial number`);
  }
  return { kind: 'issuer-and-serial', issuer: issuer.element, serial: unsignedIntegerOf(serial) };
}

/** EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OPTIONAL } */
function parseEncryptedContentInfo(info: Tlv): Pick<EncryptedContent, 'algorithm' | 'ciphertext'> {
  const [, algorithm, encryptedContent] = sequenceOf(info, 'EncryptedContentInfo');
  if (algorithm === undefined) throw new EnvelopeError('EncryptedContentInfo has no algorithm');
  // Detached content (no [0]) cannot occur in a wrapped-key item: there is nothing else to read it from.
  if (encryptedContent === undefined || !isContext(encryptedContent, 0)) throw new EnvelopeError('EncryptedContentInfo has no encryptedContent');
  return { algorithm: parseAlgorithmIdentifier(algorithm, 'contentEncryptionAlgorithm'), ciphertext: octetsOf(encryptedContent) };
}

export function parseAlgorithmIdentifier(tlv: Tlv, what: string): AlgorithmIdentifier {
  const [oid, parameters] = sequenceOf(tlv, what);
  if (oid === undefined) throw new EnvelopeError(`${what} has no OID`);
  const absent = parameters === undefined || isUniversal(parameters, UNIVERSAL_TAG.null);
  return { oid: oidOf(oid), parameters: absent ? null : parameters };
}
