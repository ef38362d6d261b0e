import { readKeys, type Key, type PrivateKey } from 'openpgp';
import type { KeyOrigin, SuppliedBytes } from '../../keys/decryption-keys.ts';
import { DECRYPT_CONFIG } from './config.ts';

/** The secret keys of one supplied keyring (a keys-directory file or a payload entry). */
export interface SecretKeyring {
  origin: KeyOrigin;
  /** From the payload's gpg-privatekeys-passwords or the file's NAME.password. */
  passphrase: string | null;
  keys: PrivateKey[];
}

export interface UnreadableKeyring {
  origin: KeyOrigin;
  reason: string;
}

const ARMOR_BEGIN = '-----BEGIN PGP ';
const ARMORED_PRIVATE_KEY_BLOCK = /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g;

/** Every supplied keyring, in order, and why the others are of no use. */
export async function readSecretKeyrings(supplied: readonly SuppliedBytes[]): Promise<{ keyrings: SecretKeyring[]; unreadable: UnreadableKeyring[] }> {
  const keyrings: SecretKeyring[] = [];
  const unreadable: UnreadableKeyring[] = [];
  for (const entry of supplied) {
    const secretKeys = await readSecretKeys(entry.bytes);
    if (typeof secretKeys === 'string') {
      unreadable.push({ origin: entry.origin, reason: secretKeys });
    } else {
      keyrings.push({ origin: entry.origin, passphrase: entry.password === null ? null : entry.password.toString('utf8'), keys: secretKeys });
    }
  }
  return { keyrings, unreadable };
}

/**
 * The secret keys of `gpg --export-secret-keys` output, binary or armored, or
 * why there are none. An armored file may hold several secret-key blocks
 * (exports concatenated with cat); public-key blocks beside them are ignored.
 */
async function readSecretKeys(bytes: Buffer): Promise<PrivateKey[] | string> {
  let keys: Key[];
  try {
    keys = await readKeysFrom(bytes);
  } catch {
    return 'not a readable OpenPGP keyring';
  }
  const secret = keys.filter((key): key is PrivateKey => key.isPrivate());
  return secret.length > 0 ? secret : 'holds public keys only';
}

async function readKeysFrom(bytes: Buffer): Promise<Key[]> {
  if (!bytes.includes(ARMOR_BEGIN)) return readKeys({ binaryKeys: bytes, config: DECRYPT_CONFIG });
  const text = bytes.toString('latin1');
  const keys: Key[] = [];
  for (const block of text.match(ARMORED_PRIVATE_KEY_BLOCK) ?? [text]) {
    keys.push(...(await readKeys({ armoredKeys: block, config: DECRYPT_CONFIG })));
  }
  return keys;
}
