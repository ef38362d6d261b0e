import type { KeyID, PrivateKey, Subkey } from 'openpgp';
import type { SecretKeyring } from './keyrings.ts';

/** gpg --hidden-recipient / --throw-keyids writes this key ID: any secret key may be the recipient. */
export const WILDCARD_KEY_ID = '0000000000000000';

export type KeyPacket = PrivateKey['keyPacket'] | Subkey['keyPacket'];

/** A secret key that a PKESK packet names, with the key packets it names. */
export interface Candidate {
  keyring: SecretKeyring;
  key: PrivateKey;
  /** The ID shown in messages: the first named (sub)key's. */
  keyId: string;
  /** The primary key and/or subkeys named. */
  packets: KeyPacket[];
}

/** Key IDs as gpg prints them with --keyid-format long. */
export function formatKeyId(keyId: KeyID): string {
  return keyId.toHex().toUpperCase();
}

/**
 * The secret keys worth trying, in keyring order: those holding a (sub)key
 * whose ID one of the message's PKESK packets names. A wildcard ID names
 * every (sub)key, so then every key is a candidate.
 */
export function candidatesFor(keyrings: readonly SecretKeyring[], recipients: readonly KeyID[]): Candidate[] {
  const candidates: Candidate[] = [];
  for (const keyring of keyrings) {
    for (const key of keyring.keys) {
      const named = new Map<string, KeyPacket>();
      for (const recipient of recipients) {
        for (const entry of key.getKeys(recipient)) named.set(formatKeyId(entry.getKeyID()), entry.keyPacket);
      }
      const [first] = named.keys();
      if (first !== undefined) candidates.push({ keyring, key, keyId: first, packets: [...named.values()] });
    }
  }
  return candidates;
}

/** How many of the message's PKESK packets name one of the candidate's (sub)keys, or no key (a wildcard). */
export function recipientsNaming(candidate: Candidate, recipients: readonly KeyID[]): number {
  const named = new Set(candidate.packets.map((packet) => formatKeyId(packet.getKeyID())));
  return recipients.filter((recipient) => {
    const id = formatKeyId(recipient);
    return id === WILDCARD_KEY_ID || named.has(id);
  }).length;
}
