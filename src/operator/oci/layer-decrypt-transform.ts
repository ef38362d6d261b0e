import { Transform, type TransformCallback } from 'node:stream';
import type { LayerCipherOptions } from '../../blockcipher/options.ts';
import { LayerDecryption, type ReleasePlaintext } from '../../blockcipher/layer-decrypt.ts';

/**
 * LayerDecryption as a stream Transform, for pipelines (the command-line hot
 * path drives LayerDecryption directly and never loads node:stream).
 */
export class LayerDecryptor extends Transform {
  readonly #decryption: LayerDecryption;
  readonly #push: ReleasePlaintext = (plaintext) => {
    this.push(plaintext);
  };

  constructor(options: LayerCipherOptions) {
    super();
    this.#decryption = new LayerDecryption(options);
  }

  override _transform(ciphertext: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#decryption.update(ciphertext, this.#push);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decryption.final(this.#push);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }
}
