import { enums, type KeyID, type PrivateKey, type SignaturePacket } from 'openpgp';
import type { SuppliedBytes } from '../../keys/decryption-keys.ts';
import { readSecretKeyrings } from './keyrings.ts';
import { recipientsOf } from './message.ts';
import { WILDCARD_KEY_ID, formatKeyId } from './selection.ts';
import { secretParts, unlockPackets, type UnlockProblem } from './unlock.ts';

/** User IDs are the key owner's text: each is cut to this many characters, and at most this many are shown. */
const MAX_USER_ID_LENGTH = 80;
const MAX_USER_IDS_SHOWN = 3;

const ENCRYPTION_FLAGS = enums.keyFlags.encryptCommunication | enums.keyFlags.encryptStorage;

/** For `ctd-decoder inspect`: the key IDs each item's PKESK packets name, "hidden recipient" for a wildcard. */
export async function describeRecipients(items: readonly Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  for (const item of items) {
    const recipients = await recipientsOf(item);
    if (recipients === null) lines.push('malformed item');
    else if (recipients.length === 0) lines.push('no public-key recipient');
    else lines.push(...recipients.map(describeRecipient));
  }
  return lines;
}

function describeRecipient(keyId: KeyID): string {
  const hex = formatKeyId(keyId);
  return hex === WILDCARD_KEY_ID ? 'hidden recipient (any secret key may open it)' : `key ID ${hex}`;
}

/**
 * For `ctd-decoder keys`, one line per secret key of the keyring: its
 * fingerprint, user IDs, the key IDs it encrypts with (what a PKESK packet
 * names) and whether it needs a passphrase and got the right one. Never key
 * material or the passphrase.
 */
export async function describeKeyMaterial(material: SuppliedBytes): Promise<string[]> {
  const { keyrings, unreadable } = await readSecretKeyrings([material]);
  const lines = unreadable.map((entry) => `not usable: ${entry.reason}`);
  for (const keyring of keyrings) {
    for (const key of keyring.keys) lines.push(await describeKey(key, keyring.passphrase));
  }
  return lines;
}

async function describeKey(key: PrivateKey, passphrase: string | null): Promise<string> {
  const userIds = key.getUserIDs();
  const shownIds = userIds.slice(0, MAX_USER_IDS_SHOWN).map((userId) => `"${userId.slice(0, MAX_USER_ID_LENGTH)}"`);
  if (userIds.length > MAX_USER_IDS_SHOWN) shownIds.push(`+${userIds.length - MAX_USER_IDS_SHOWN} more`);
  const encryptionKeys = [
    ...(encrypts(key.users.flatMap((user) => user.selfCertifications)) ? [key] : []),
    ...key.getSubkeys().filter((subkey) => encrypts(subkey.bindingSignatures)),
  ].map((entry) => formatKeyId(entry.getKeyID()));
  return [
    `fingerprint ${key.getFingerprint().toUpperCase()}`,
    shownIds.length > 0 ? `user IDs ${shownIds.join(', ')}` : 'no user ID',
    encryptionKeys.length > 0 ? `encrypts with key ID ${encryptionKeys.join(', ')}` : 'no encryption key',
    await passphraseState(key, passphrase),
  ].join('; ');
}

/** Key flags that allow encryption; a key without key flags is usable for anything, as gpg and Go read it. */
function encrypts(signatures: readonly SignaturePacket[]): boolean {
  return signatures.some((signature) => signature.keyFlags === null || signature.keyFlags.length === 0 || (signature.keyFlags[0]! & ENCRYPTION_FLAGS) !== 0);
}

const PROBLEMS: Record<UnlockProblem, string> = {
  'no-secret-part': 'no secret part (a gpg stub)',
  'needs-passphrase': 'passphrase needed and not given',
  'wrong-passphrase': 'passphrase needed; the one given is wrong',
  'unsupported-protection': 'protected in a way this decoder cannot unlock',
};

/** Unlocks the key's secret parts (in place: the keyring was parsed for this description only) to tell. */
async function passphraseState(key: PrivateKey, passphrase: string | null): Promise<string> {
  const packets = key.getKeys().map((entry) => entry.keyPacket);
  const locked = secretParts(packets).some((packet) => !packet.isDecrypted());
  const problem = await unlockPackets(packets, passphrase);
  if (problem !== null) return PROBLEMS[problem];
  return locked ? 'passphrase needed and given' : 'no passphrase needed';
}
