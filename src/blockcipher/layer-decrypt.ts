import { createDecipheriv, createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto';
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
 * Ciphertext is decrypted in pieces of at most this size. Each piece's
 * plaintext is a fresh allocation; below glibc's mmap threshold (128 KiB)
 * it comes from, and returns to, the ordinary heap instead of costing an
 * mmap, page faults and a munmap.
 */
const PIECE_BYTES = 64 * 1024;

/** Receives plaintext that may leave the process: it is no longer part of the held-back tail. */
export type ReleasePlaintext = (plaintext: Buffer) => void;

/**
 * The last HELD_BACK_BYTES of plaintext (at least), withheld until the HMAC
 * verifies: `hold` releases what is older.
 */
class HeldBackTail {
  readonly #held: Buffer[] = [];
  #heldBytes = 0;

  /** Adds the next plaintext and releases the oldest pieces that are no longer part of the tail. */
  hold(plaintext: Buffer, release: ReleasePlaintext): void {
    this.#held.push(plaintext);
    this.#heldBytes += plaintext.length;
    while (this.#heldBytes - this.#held[0]!.length >= HELD_BACK_BYTES) {
      const released = this.#held.shift()!;
      this.#heldBytes -= released.length;
      release(released);
    }
  }

  /** The HMAC verified: releases the whole tail. */
  releaseAll(release: ReleasePlaintext): void {
    for (const plaintext of this.#held.splice(0)) release(plaintext);
    this.#heldBytes = 0;
  }

  /** The HMAC failed: drops the tail. */
  discard(): void {
    this.#held.length = 0;
    this.#heldBytes = 0;
  }
}

/**
 * AES-256-CTR decryption with HMAC-SHA256 over the ciphertext: constant
 * memory, output length = input length, and the last HELD_BACK_BYTES of
 * plaintext released only after a constant-time tag comparison. Plaintext
 * handed to `release` is never touched again, so the receiver may free it.
 */
export class LayerDecryption {
  readonly #decipher;
  readonly #hmac;
  readonly #expectedHmac: Buffer;
  readonly #tail = new HeldBackTail();
  /** Without a payload: the sha256 the whole ciphertext must have, i.e. the digest of the descriptor we found for it. */
  readonly #blobDigest: { hash: Hash; expectedHex: string } | undefined;

  constructor(options: LayerCipherOptions, expectedBlobSha256Hex?: string) {
    this.#decipher = createDecipheriv('aes-256-ctr', options.symmetricKey, options.nonce);
    this.#hmac = createHmac('sha256', options.symmetricKey);
    this.#expectedHmac = options.hmac;
    if (expectedBlobSha256Hex !== undefined) this.#blobDigest = { hash: createHash('sha256'), expectedHex: expectedBlobSha256Hex };
    // Both objects keep their own copy of the key.
    options.symmetricKey.fill(0);
  }

  /** Authenticates and decrypts the next ciphertext bytes; the caller may reuse `ciphertext` afterwards. */
  update(ciphertext: Uint8Array, release: ReleasePlaintext): void {
    this.#authenticate(ciphertext);
    for (let offset = 0; offset < ciphertext.length; offset += PIECE_BYTES) {
      this.#tail.hold(this.#decipher.update(ciphertext.subarray(offset, offset + PIECE_BYTES)), release);
    }
  }

  /**
   * Ends the layer: releases the held-back tail if the HMAC verifies, else
   * discards it and throws IntegrityError.
   */
  final(release: ReleasePlaintext): void {
    const tail = this.#decipher.final();
    try {
      this.#verify();
    } catch (error) {
      this.#tail.discard();
      throw error;
    }
    this.#tail.releaseAll(release);
    if (tail.length > 0) release(tail);
  }

  #authenticate(ciphertext: Uint8Array): void {
    this.#hmac.update(ciphertext);
    this.#blobDigest?.hash.update(ciphertext);
  }

  /** Throws IntegrityError unless the HMAC verifies and, without a payload, the stream's sha256 is the found descriptor's digest. */
  #verify(): void {
    if (!this.#hmacVerifies()) throw integrityError();
    if (this.#blobDigest === undefined) return;
    const streamed = this.#blobDigest.hash.digest('hex');
    if (streamed !== this.#blobDigest.expectedHex) {
      throw new IntegrityError(
        `the layer on stdin is sha256:${streamed}, not the sha256:${this.#blobDigest.expectedHex} whose descriptor was found in the content store; it was not released whole`,
        'pull the image again; if it persists, the content store holds a corrupt blob (ctr content ls / ctr content delete it)',
      );
    }
  }

  #hmacVerifies(): boolean {
    const actual = this.#hmac.digest();
    return actual.length === this.#expectedHmac.length && timingSafeEqual(actual, this.#expectedHmac);
  }
}

function integrityError(): IntegrityError {
  return new IntegrityError(
    'layer failed authentication (HMAC mismatch): the blob was altered, truncated or extended, and was not released whole',
    'pull the image again; if it persists, the registry holds a corrupt or tampered layer',
  );
}
