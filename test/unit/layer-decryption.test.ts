import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HELD_BACK_BYTES, LayerDecryption } from '../../src/blockcipher/layer-decrypt.ts';
import { IntegrityError } from '../../src/errors.ts';
import { encryptLayer } from '../support/layer-cipher.ts';

/** Feeds `ciphertext` in chunks of `chunkSize` through one reused input buffer, as the stdin loop does. */
function decrypt(ciphertext: Buffer, decryption: LayerDecryption, chunkSize: number) {
  const released: Buffer[] = [];
  const release = (plaintext: Buffer) => released.push(plaintext);
  const input = Buffer.alloc(chunkSize);
  for (let offset = 0; offset < ciphertext.length; offset += chunkSize) {
    const length = ciphertext.copy(input, 0, offset, offset + chunkSize);
    decryption.update(input.subarray(0, length), release);
    input.fill(0xee); // the caller reuses its buffer: nothing may still point into it
  }
  const beforeFinal = Buffer.concat(released).length;
  let error: unknown = null;
  try {
    decryption.final(release);
  } catch (caught) {
    error = caught;
  }
  return { released, beforeFinal, output: Buffer.concat(released), error };
}

describe('LayerDecryption (the stdin -> stdout core)', () => {
  it('decrypts with any chunk size, in plaintext pieces of at most 64 KiB, never released before the HMAC for the tail', () => {
    const plain = randomBytes(700_000);
    const { ciphertext, options } = encryptLayer(plain);
    for (const chunkSize of [1000, 65_536, 100_000, 1024 * 1024]) {
      const result = decrypt(ciphertext, new LayerDecryption(options()), chunkSize);
      assert.equal(result.error, null);
      assert.ok(result.output.equals(plain), `chunk size ${chunkSize}`);
      assert.ok(result.released.every((piece) => piece.length <= 64 * 1024), `chunk size ${chunkSize}: a piece over 64 KiB`);
      assert.ok(result.beforeFinal <= plain.length - HELD_BACK_BYTES, `chunk size ${chunkSize}: released ${result.beforeFinal} before final`);
    }
  });

  it('a released piece belongs to the receiver: freeing it at once does not disturb later output', () => {
    const plain = randomBytes(500_000);
    const { ciphertext, options } = encryptLayer(plain);
    const copies: Buffer[] = [];
    const release = (plaintext: Buffer) => {
      copies.push(Buffer.from(plaintext));
      (plaintext.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
    };
    const decryption = new LayerDecryption(options());
    decryption.update(ciphertext.subarray(0, 300_000), release);
    decryption.update(ciphertext.subarray(300_000), release);
    decryption.final(release);
    assert.ok(Buffer.concat(copies).equals(plain));
  });

  it('an HMAC mismatch throws IntegrityError from final and releases nothing more', () => {
    const plain = randomBytes(HELD_BACK_BYTES * 3 + 123);
    const { ciphertext, options } = encryptLayer(plain);
    ciphertext[ciphertext.length - 1]! ^= 1;
    const result = decrypt(ciphertext, new LayerDecryption(options()), 8192);
    assert.ok(result.error instanceof IntegrityError);
    assert.equal(result.output.length, result.beforeFinal);
    assert.ok(result.output.length <= plain.length - HELD_BACK_BYTES);
  });

  it('an empty layer with the HMAC of nothing is an empty success', () => {
    const { ciphertext, options } = encryptLayer(Buffer.alloc(0));
    const result = decrypt(ciphertext, new LayerDecryption(options()), 4096);
    assert.equal(result.error, null);
    assert.equal(result.output.length, 0);
  });
});
