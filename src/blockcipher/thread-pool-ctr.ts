import type { webcrypto } from 'node:crypto';
import { counterAt } from './layer-decrypt.ts';

/**
 * AES-256-CTR decryption of independent stretches of a layer on Node's
 * thread pool (WebCrypto jobs run there), so that the main thread is free
 * for the layer's HMAC-SHA256, which cannot be split and is the slower half:
 * on two cores a long layer then takes about as long as its HMAC alone.
 * Each call copies its input, so the caller may reuse it at once.
 */
export class ThreadPoolCtr {
  readonly #key: webcrypto.CryptoKey;
  readonly #nonce: Buffer;

  private constructor(key: webcrypto.CryptoKey, nonce: Buffer) {
    this.#key = key;
    this.#nonce = nonce;
  }

  /** Imports the layer key (wiped from `symmetricKey` here; the CryptoKey keeps its own copy). */
  static async create(symmetricKey: Uint8Array, nonce: Buffer): Promise<ThreadPoolCtr> {
    const key = await crypto.subtle.importKey('raw', symmetricKey, 'AES-CTR', false, ['decrypt']);
    symmetricKey.fill(0);
    return new ThreadPoolCtr(key, nonce);
  }

  /** Decrypts `ciphertext`, which starts at byte `offset` (a multiple of 16) of the layer. */
  async decrypt(offset: number, ciphertext: Uint8Array): Promise<Buffer> {
    const counter = counterAt(this.#nonce, offset);
    return Buffer.from(await crypto.subtle.decrypt({ name: 'AES-CTR', counter, length: 128 }, this.#key, ciphertext));
  }
}
