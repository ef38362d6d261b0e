import { decodeStdBase64 } from '../../encoding/base64.ts';
import { field, isJsonObject } from '../../encoding/go-json.ts';
import { MAX_RECIPIENTS_PER_ITEM } from '../../limits.ts';
import { oaepHashOf, type OaepHash } from './oaep.ts';

/**
 * One wrapped-key item of the pkcs11 annotation, as ocicrypt writes it:
 *
 *     {"version":0,"recipients":[{"version":0,"blob":"<b64 RSA-OAEP ciphertext>","hash":"sha1"}]}
 *
 * Read with Go's JSON leniency (field names case-insensitive, unknown fields
 * ignored). Only version 0 exists; a recipient this decoder cannot use is
 * set aside with the reason, and the others are still tried.
 */
export interface OaepRecipient {
  /** "item 0 recipient 1", for messages. */
  name: string;
  ciphertext: Buffer;
  hash: OaepHash;
}

export interface ParsedItem {
  recipients: OaepRecipient[];
  /** Why an item or recipient cannot be used. */
  problems: string[];
}

const SUPPORTED_VERSION = 0;

export function parseItem(item: Buffer, itemIndex: number): ParsedItem {
  const parsed: ParsedItem = { recipients: [], problems: [] };
  const itemName = `item ${itemIndex}`;
  let blob: unknown;
  try {
    blob = JSON.parse(item.toString('utf8'));
  } catch {
    blob = undefined;
  }
  if (!isJsonObject(blob)) {
    parsed.problems.push(`${itemName} is not a PKCS#11 blob (not a JSON object)`);
    return parsed;
  }
  const version = versionOf(blob);
  if (version !== SUPPORTED_VERSION) {
    parsed.problems.push(`${itemName} has blob version ${version}, only ${SUPPORTED_VERSION} is supported`);
    return parsed;
  }
  const recipients = field(blob, 'recipients');
  if (!Array.isArray(recipients) || recipients.length === 0) {
    parsed.problems.push(`${itemName} has no recipients`);
    return parsed;
  }
  if (recipients.length > MAX_RECIPIENTS_PER_ITEM) {
    parsed.problems.push(`${itemName} has ${recipients.length} recipients (limit ${MAX_RECIPIENTS_PER_ITEM})`);
    return parsed;
  }
  for (const [index, recipient] of recipients.entries()) {
    const name = `${itemName} recipient ${index}`;
    const usable = isJsonObject(recipient) ? recipientOf(recipient, name) : `${name} is not a JSON object`;
    if (typeof usable === 'string') parsed.problems.push(usable);
    else parsed.recipients.push(usable);
  }
  return parsed;
}

/** The recipient, or why it cannot be used. */
function recipientOf(recipient: Record<string, unknown>, name: string): OaepRecipient | string {
  const version = versionOf(recipient);
  if (version !== SUPPORTED_VERSION) return `${name} has version ${version}, only ${SUPPORTED_VERSION} is supported`;
  const blob = field(recipient, 'blob');
  const ciphertext = typeof blob === 'string' ? decodeStdBase64(blob) : null;
  if (ciphertext === null || ciphertext.length === 0) return `${name} has no base64 ciphertext`;
  const hashValue = field(recipient, 'hash') ?? '';
  const hash = typeof hashValue === 'string' ? oaepHashOf(hashValue) : undefined;
  if (hash === undefined) return `${name} uses an unsupported OAEP hash (${JSON.stringify(hashValue).slice(0, 32)})`;
  return { name, ciphertext, hash };
}

/** Go's uint field: absent or null is 0; anything but a whole number is shown as it is. */
function versionOf(object: Record<string, unknown>): number | string {
  const version = field(object, 'version') ?? 0;
  return typeof version === 'number' && Number.isInteger(version) ? version : JSON.stringify(version).slice(0, 16);
}
