import { field, isJsonObject } from '../encoding/go-json.ts';
import { plural } from '../encoding/plural.ts';
import { privateKeysOfType, type SuppliedPrivateKey } from '../keys/decryption-keys.ts';
import { nameText } from './pkcs7/certificate-identity.ts';
import { contentDecryptionFor, type ContentDecryption } from './pkcs7/content-cipher.ts';
import { DerError } from './pkcs7/der.ts';
import { EnvelopeError, parseEnvelope, UnsupportedAlgorithmError, type Envelope, type KeyTransportRecipient } from './pkcs7/enveloped-data.ts';
import { keyTransportFor, type KeyTransport } from './pkcs7/key-transport.ts';
import { OperationBudget } from './operation-budget.ts';
import {
  certificatesWithoutKey,
  planAttempts,
  recipientCertificates,
  type RecipientCertificate,
} from './pkcs7/recipient-selection.ts';
import { CAN_TRY, UnwrapFailure, cannotTry, type KeyWrapScheme, type UnwrapFailureKind } from './scheme.ts';

/**
 * PKCS#7 / CMS: each item is a ContentInfo holding EnvelopedData (ocicrypt's
 * Go encoder) or AuthEnvelopedData (openssl cms with AES-GCM) whose content
 * is the layer's private options JSON, for RSA key-transport recipients
 * named by certificate. Unlike the Go decoder, a private key works without
 * its certificate: every supplied RSA key is tried on every recipient.
 */
export const pkcs7Scheme: KeyWrapScheme = {
  name: 'pkcs7',

  checkKeys(keys) {
    if (privateKeysOfType(keys, 'rsa').length > 0) return CAN_TRY;
    return cannotTry(keys.certificates.length > 0 ? 'no RSA private key supplied (a certificate alone cannot decrypt)' : 'no RSA private key supplied');
  },

  async unwrap(items, keys, budget = new OperationBudget()) {
    const rsaKeys = privateKeysOfType(keys, 'rsa');
    const certificates = recipientCertificates(keys, rsaKeys);
    const findings = new Findings();
    for (const [index, item] of items.entries()) {
      const privateOptions = openItem(item, index, rsaKeys, certificates, findings, budget);
      if (privateOptions !== null) return privateOptions;
    }
    throw new UnwrapFailure(findings.explain(rsaKeys.length), findings.kind(items.length));
  },

  describeRecipients(items) {
    return items.flatMap((item) => {
      let envelope: Envelope;
      try {
        envelope = parseEnvelope(item);
      } catch (error) {
        return [`malformed item: ${problemOf(error)}`];
      }
      return [
        ...envelope.keyTransportRecipients.map(describeRecipient),
        ...envelope.otherRecipients.map((kind) => `${kind} recipient (not supported)`),
      ];
    });
  },
};

/** Which certificate a recipient needs, e.g. `RSA PKCS#1 v1.5 issuer="CN=…" serial=1001` (or `subjectKeyId=…`). */
function describeRecipient(recipient: KeyTransportRecipient): string {
  let transport: string;
  try {
    transport = keyTransportFor(recipient.keyEncryption).name;
  } catch (error) {
    transport = problemOf(error);
  }
  const { identifier } = recipient;
  return identifier.kind === 'issuer-and-serial'
    ? `${transport} issuer="${nameText(identifier.issuer)}" serial=${identifier.serial.toString('hex').toUpperCase()}`
    : `${transport} subjectKeyId=${identifier.keyIdentifier.toString('hex')}`;
}

function openItem(
  item: Buffer,
  index: number,
  rsaKeys: readonly SuppliedPrivateKey[],
  certificates: readonly RecipientCertificate[],
  findings: Findings,
  budget: OperationBudget,
): Buffer | null {
  let envelope: Envelope;
  let content: ContentDecryption;
  try {
    envelope = parseEnvelope(item);
    content = contentDecryptionFor(envelope.content);
  } catch (error) {
    findings.itemProblems.push(`item ${index}: ${problemOf(error)}`);
    return null;
  }
  findings.otherRecipients.push(...envelope.otherRecipients);

  const transports = new Map<KeyTransportRecipient, KeyTransport>();
  for (const recipient of envelope.keyTransportRecipients) {
    try {
      transports.set(recipient, keyTransportFor(recipient.keyEncryption));
    } catch (error) {
      findings.recipientProblems.push(`recipient ${recipient.index}: ${problemOf(error)}`);
    }
  }
  const usable = [...transports.keys()];
  findings.recipients += usable.length;
  for (const certificate of certificatesWithoutKey(usable, certificates)) findings.certificatesWithoutKey.add(certificate.description);

  for (const attempt of planAttempts(usable, rsaKeys, certificates)) {
    budget.spend('private-key');
    const contentKey = transports.get(attempt.recipient)!.unwrap(attempt.key.key, attempt.recipient.encryptedKey);
    const plaintext = contentKey === null ? null : content.decrypt(contentKey);
    if (plaintext !== null && (content.authenticated || looksLikePrivateOptions(plaintext))) return plaintext;
    if (attempt.certificate !== null) findings.certificatesThatFailed.add(attempt.certificate.description);
  }
  return null;
}

/**
 * CBC content has no tag, and a wrong RSA key does not fail (implicit
 * rejection): valid padding on a random key happens about once in 256, so
 * the plaintext must also be the options JSON before it is believed.
 */
function looksLikePrivateOptions(plaintext: Buffer): boolean {
  try {
    const json: unknown = JSON.parse(plaintext.toString('utf8'));
    return isJsonObject(json) && field(json, 'symkey') !== undefined;
  } catch {
    return false;
  }
}

/** The reason an item or recipient cannot be used; anything else is a bug and propagates. */
function problemOf(error: unknown): string {
  if (error instanceof EnvelopeError || error instanceof UnsupportedAlgorithmError) return error.message;
  if (error instanceof DerError) return `bad ASN.1: ${error.message}`;
  throw error;
}

/** What went wrong across all items, turned into one short line. */
class Findings {
  itemProblems: string[] = [];
  recipientProblems: string[] = [];
  otherRecipients: string[] = [];
  recipients = 0;
  certificatesWithoutKey = new Set<string>();
  /** Certificates whose key was supplied and chose a recipient, yet the content did not open. */
  certificatesThatFailed = new Set<string>();

  /**
   * Corrupt when no item could be read, or when a certificate's own key
   * chose a recipient and the content still did not open; otherwise the
   * keys simply did not fit.
   */
  kind(itemCount: number): UnwrapFailureKind {
    return this.itemProblems.length === itemCount || this.certificatesThatFailed.size > 0 ? 'malformed-items' : 'no-key-fits';
  }

  explain(rsaKeyCount: number): string {
    const [failed] = this.certificatesThatFailed;
    const [withoutKey, ...moreWithoutKey] = this.certificatesWithoutKey;
    const itemProblems = [...this.itemProblems];
    const details: string[] = [];
    if (this.recipients > 0) details.push(`${plural(rsaKeyCount, 'RSA key')} tried against ${plural(this.recipients, 'recipient')}`);
    if (failed === undefined && moreWithoutKey.length > 0) details.push(`${plural(moreWithoutKey.length, 'more certificate')} without key`);
    details.push(...this.recipientProblems);
    if (this.otherRecipients.length > 0) {
      details.push(`${plural(this.otherRecipients.length, 'other recipient')}: ${[...new Set(this.otherRecipients)].join(', ')}`);
    }

    let headline: string;
    if (failed !== undefined) {
      headline = `certificate ${failed} and its private key match a recipient, but the content does not decrypt: item altered or corrupt`;
    } else if (withoutKey !== undefined) {
      headline = `certificate ${withoutKey} matches a recipient but its private key is not supplied`;
    } else if (this.recipients > 0) {
      headline = 'no private key fits';
    } else if (this.recipientProblems.length > 0 || this.otherRecipients.length > 0) {
      headline = 'no recipient uses RSA key transport';
    } else {
      // Nothing was parsed far enough to have recipients: the item problems are the story.
      headline = itemProblems.shift() ?? 'no recipients';
    }
    details.push(...itemProblems);
    return details.length > 0 ? `${headline} (${details.join(', ')})` : headline;
  }
}
