import { createCipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * A layer encrypted as ocicrypt does (AES-256-CTR, HMAC-SHA256 over the
 * ciphertext) with a fresh key, for unit tests of the decryption core.
 * `options()` returns new cipher options each time: the decryptor wipes the key it is given.
 */
export function encryptLayer(plain: Buffer) {
  const key = randomBytes(32);
  const nonce = randomBytes(16);
  const cipher = createCipheriv('aes-256-ctr', key, nonce);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const hmac = createHmac('sha256', key).update(ciphertext).digest();
  return { ciphertext, options: () => ({ symmetricKey: Buffer.from(key), nonce, hmac, digest: '' }) };
}
