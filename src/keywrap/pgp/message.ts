import { decrypt, readMessage, type KeyID, type PrivateKey } from 'openpgp';
import { MAX_RECIPIENTS_PER_ITEM } from '../../limits.ts';
import { DECRYPT_CONFIG } from './config.ts';
import { packetLimitProblem } from './packets.ts';

/**
 * The key IDs of the item's PKESK packets, or null when the item is no binary
 * OpenPGP message, holds more packets or chunks than any encryptor writes, or
 * names more recipients.
 */
export async function recipientsOf(item: Buffer): Promise<KeyID[] | null> {
  if (packetLimitProblem(item) !== null) return null;
  try {
    const keyIds = (await readMessage({ binaryMessage: item, config: DECRYPT_CONFIG })).getEncryptionKeyIDs();
    return keyIds.length > MAX_RECIPIENTS_PER_ITEM ? null : keyIds;
  } catch {
    return null;
  }
}

/**
 * The literal data (the private options JSON) when `key` opens the item, else
 * null. The message is parsed again for every try: openpgp consumes its
 * session-key packets while decrypting.
 */
export async function openWith(item: Buffer, key: PrivateKey): Promise<Buffer | null> {
  try {
    const message = await readMessage({ binaryMessage: item, config: DECRYPT_CONFIG });
    const { data } = await decrypt({ message, decryptionKeys: key, format: 'binary', config: DECRYPT_CONFIG });
    return Buffer.from(data);
  } catch {
    return null;
  }
}
