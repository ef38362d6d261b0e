import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged while hashing and counting them: blobs are verified and named as they stream. */
export class DigestCounter extends Transform {
  readonly #algorithm: 'sha256' | 'sha512';
  readonly #hash: Hash;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  bytes = 0;

  constructor(algorithm: 'sha256' | 'sha512' = 'sha256', onProgress?: (bytes: number) => void) {
    super();
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
    this.#onProgress = onProgress;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    this.#onProgress?.(this.bytes);
    callback(null, chunk);
  }

  /** "sha256:<hex>"; only once the stream has ended. */
  digest(): string {
    return `${this.#algorithm}:${this.#hash.digest('hex')}`;
  }
}
