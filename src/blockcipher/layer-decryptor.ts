import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.ts';
import type { LayerCipherOptions } from './options.ts';

/**
 * How much decrypted output stays unreleased until the HMAC has verified.
 * containerd may read our exit status racily (containerd#6914), so a layer
 * that fails authentication must never reach it whole; 64 KiB is more than
 * the compressor and tar trailers, whatever size the input chunks have.
 */
export const HELD_BACK_BYTES = 64 * 1024;

/**
 * AES-256-CTR decryption with HMAC-SHA256 over the ciphertext, as a stream:
 * constant memory, output length = input length, the tail released only
 * after a constant-time tag comparison.
 */
export class LayerDecryptor extends Transform {
  readonly #decipher;
  readonly #hmac;
  readonly #expectedHmac: Buffer;
  readonly #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(options: LayerCipherOptions) {
    super();
    this.#decipher = createDecipheriv('aes-256-ctr', options.symmetricKey, options.nonce);
    this.#hmac = createHmac('sha256', options.symmetricKey);
    this.#expectedHmac = options.hmac;
    // Both objects keep their own copy of the key.
    options.symmetricKey.fill(0);
  }

  override _transform(ciphertext: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hmac.update(ciphertext);
    const plaintext = this.#decipher.update(ciphertext);
    this.#held.push(plaintext);
    this.#heldBytes += plaintext.length;
    while (this.#held.length > 1 && this.#heldBytes - this.#held[0]!.length >= HELD_BACK_BYTES) {
      const released = this.#held.shift()!;
      this.#heldBytes -= released.length;
      this.push(released);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const tail = this.#decipher.final();
    const actual = this.#hmac.digest();
    if (actual.length !== this.#expectedHmac.length || !timingSafeEqual(actual, this.#expectedHmac)) {
      this.#held.length = 0;
      callback(
        new IntegrityError(
          'layer failed authentication (HMAC mismatch): the blob was altered, truncated or extended, and was not released whole',
          'pull the image again; if it persists, the registry holds a corrupt or tampered layer',
        ),
      );
      return;
    }
    for (const plaintext of this.#held) this.push(plaintext);
    this.#held.length = 0;
    callback(null, tail.length > 0 ? tail : undefined);
  }
}
