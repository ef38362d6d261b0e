import { SecretKeyPacket, SecretSubkeyPacket } from 'openpgp';
import type { KeyPacket } from './selection.ts';

/** Why a candidate key could not be used, before any decryption was tried. */
export type UnlockProblem = 'no-secret-part' | 'needs-passphrase' | 'wrong-passphrase' | 'unsupported-protection';

/**
 * Unlocks the secret parts of the named key packets, in place: the keys are
 * parsed for this one run. openpgp uses every named packet, so each must be
 * unlocked; stubs without a secret part (--export-secret-subkeys, smartcards)
 * are left out, as openpgp does.
 */
export async function unlockPackets(packets: readonly KeyPacket[], passphrase: string | null): Promise<UnlockProblem | null> {
  const usable = secretParts(packets);
  if (usable.length === 0) return 'no-secret-part';
  const locked = usable.filter((packet) => !packet.isDecrypted());
  if (locked.length === 0) return null;
  if (passphrase === null) return 'needs-passphrase';
  for (const packet of locked) {
    try {
      await packet.decrypt(passphrase);
    } catch (error) {
      return error instanceof Error && error.message.startsWith('Incorrect key passphrase') ? 'wrong-passphrase' : 'unsupported-protection';
    }
  }
  return null;
}

/** The packets that hold a secret part, locked or not: not public, not a gpg stub. */
export function secretParts(packets: readonly KeyPacket[]): (SecretKeyPacket | SecretSubkeyPacket)[] {
  return packets.filter(isSecretPacket).filter((packet) => !packet.isDummy());
}

function isSecretPacket(packet: KeyPacket): packet is SecretKeyPacket | SecretSubkeyPacket {
  return packet instanceof SecretKeyPacket || packet instanceof SecretSubkeyPacket;
}
