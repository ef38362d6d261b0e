import { compactDecrypt, flattenedDecrypt, type DecryptOptions } from 'jose';
import { plural } from '../encoding/plural.ts';
import { privateKeysOfType, type SuppliedPrivateKey } from '../keys/decryption-keys.ts';
import { OperationBudget } from './operation-budget.ts';
import { MAX_RECIPIENTS_PER_ITEM } from '../limits.ts';
import { CAN_TRY, UnwrapFailure, cannotTry, type KeyWrapScheme } from './scheme.ts';

/**
 * What ocicrypt (go-jose) produces, and nothing else: key agreement or
 * password algorithms we never expect are refused before any work is done.
 */
const DECRYPT_OPTIONS: DecryptOptions = {
  keyManagementAlgorithms: ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'],
  contentEncryptionAlgorithms: ['A128GCM', 'A192GCM', 'A256GCM', 'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512'],
};

type ParsedJwe =
  | { form: 'compact'; jwe: string }
  | { form: 'flattened' | 'general'; jwe: Record<string, unknown> };

/**
 * go-jose writes flattened JSON for one recipient and general JSON (plus a
 * stray top-level encrypted_key, ignored here) for several; compact is
 * accepted for hand-made images.
 */
function parseJwe(item: Buffer): ParsedJwe | null {
  const text = item.toString('utf8').trim();
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return null;
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
    const jwe = json as Record<string, unknown>;
    // Every JSON serialization carries the ciphertext: an object without one is no JWE.
    if (typeof jwe['ciphertext'] !== 'string') return null;
    const recipients = jwe['recipients'];
    if (!Array.isArray(recipients)) return { form: 'flattened', jwe };
    return recipients.length > MAX_RECIPIENTS_PER_ITEM ? null : { form: 'general', jwe };
  }
  return text.split('.').length === 5 ? { form: 'compact', jwe: text } : null;
}

/** One recipient to try a key on: the compact JWE, or a flattened JWE per recipient of a general one. */
type Attempt = { form: 'compact'; jwe: string } | { form: 'flattened'; jwe: Record<string, unknown> };

/**
 * A general JWE as one flattened JWE per recipient, as jose's generalDecrypt
 * tries them: each try is a private-key operation, spent from the layer's budget.
 */
function attemptsOf(parsed: ParsedJwe): Attempt[] {
  if (parsed.form !== 'general') return [parsed as Attempt];
  const { recipients, ...shared } = parsed.jwe;
  return (recipients as unknown[]).map((recipient) => {
    const { header, encrypted_key } = typeof recipient === 'object' && recipient !== null ? (recipient as Record<string, unknown>) : {};
    return { form: 'flattened', jwe: { ...shared, header, encrypted_key } };
  });
}

async function decryptWith(attempt: Attempt, key: SuppliedPrivateKey): Promise<Uint8Array> {
  return attempt.form === 'compact'
    ? (await compactDecrypt(attempt.jwe, key.key, DECRYPT_OPTIONS)).plaintext
    : (await flattenedDecrypt(attempt.jwe as never, key.key, DECRYPT_OPTIONS)).plaintext;
}

/** The headers that apply to each recipient: protected, shared unprotected, then per-recipient. */
function recipientHeaders(parsed: ParsedJwe): Record<string, unknown>[] {
  const decodeProtected = (encoded: unknown): Record<string, unknown> => {
    if (typeof encoded !== 'string') return {};
    try {
      const header: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
      return typeof header === 'object' && header !== null ? (header as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  const asObject = (value: unknown) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {});
  if (parsed.form === 'compact') return [decodeProtected(parsed.jwe.split('.')[0])];
  const shared = { ...decodeProtected(parsed.jwe['protected']), ...asObject(parsed.jwe['unprotected']) };
  if (parsed.form === 'flattened') return [{ ...shared, ...asObject(parsed.jwe['header']) }];
  return (parsed.jwe['recipients'] as unknown[]).map((recipient) => ({ ...shared, ...asObject(asObject(recipient)['header']) }));
}

/** "ECDH-ES+A256KW P-256 kid=node-1": the key algorithm, the curve a recipient key must be on, the key ID if any. */
function describeRecipient(header: Record<string, unknown>): string {
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 64) : null);
  const epk = header['epk'];
  const curve = typeof epk === 'object' && epk !== null ? text((epk as Record<string, unknown>)['crv']) : null;
  const kid = text(header['kid']);
  return [text(header['alg']) ?? 'no alg', curve, kid === null ? null : `kid=${kid}`].filter((part) => part !== null).join(' ');
}

export const jweScheme: KeyWrapScheme = {
  name: 'jwe',

  checkKeys(keys) {
    return privateKeysOfType(keys, 'rsa', 'ec').length === 0 ? cannotTry('no RSA or EC private key supplied') : CAN_TRY;
  },

  async unwrap(items, keys, budget = new OperationBudget()) {
    const candidates = privateKeysOfType(keys, 'rsa', 'ec');
    let malformed = 0;
    for (const item of items) {
      const parsed = parseJwe(item);
      if (parsed === null) {
        malformed++;
        continue;
      }
      const attempts = attemptsOf(parsed);
      for (const key of candidates) {
        for (const attempt of attempts) {
          budget.spend('private-key');
          try {
            return Buffer.from(await decryptWith(attempt, key));
          } catch {
            // This key does not open this recipient; the next may.
          }
        }
      }
    }
    const tried = `${plural(candidates.length, 'private key')} tried`;
    if (malformed === items.length) throw new UnwrapFailure(`no item is a JWE (${items.length} malformed)`, 'malformed-items');
    throw new UnwrapFailure(`no private key fits (${tried}${malformed ? `, ${malformed} malformed item(s)` : ''})`);
  },

  describeRecipients(items) {
    return items.flatMap((item) => {
      const parsed = parseJwe(item);
      return parsed === null ? ['malformed item'] : recipientHeaders(parsed).map(describeRecipient);
    });
  },
};
