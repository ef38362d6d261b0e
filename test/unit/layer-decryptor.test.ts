import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { HELD_BACK_BYTES } from '../../src/blockcipher/layer-decrypt.ts';
import { LayerDecryptor } from '../../src/operator/oci/layer-decrypt-transform.ts';
import { IntegrityError } from '../../src/errors.ts';
import { encryptLayer } from '../support/layer-cipher.ts';

async function run(chunks: Buffer[], decryptor: LayerDecryptor) {
  const out: Buffer[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { out.push(chunk); cb(); } });
  let error: unknown = null;
  await pipeline(Readable.from(chunks), decryptor, sink).catch((e: unknown) => { error = e; });
  return { output: Buffer.concat(out), error };
}

describe('AES-256-CTR + HMAC-SHA256 layer decryptor', () => {
  it('decrypts across arbitrary chunk boundaries, output length = input length', async () => {
    const plain = randomBytes(300_000);
    const { ciphertext, options } = encryptLayer(plain);
    for (const size of [1, 15, 16, 17, 65_536, 300_000]) {
      const chunks = size === 1 ? [ciphertext.subarray(0, 5000), ciphertext.subarray(5000)] : [];
      for (let i = 0; size !== 1 && i < ciphertext.length; i += size) chunks.push(ciphertext.subarray(i, i + size));
      const result = await run(chunks, new LayerDecryptor(options()));
      assert.equal(result.error, null);
      assert.ok(result.output.equals(plain), `chunk size ${size}`);
    }
  });

  it('holds back at least the tail until the HMAC verified, even with 1-byte chunks', async () => {
    const plain = randomBytes(HELD_BACK_BYTES + 1000);
    const { ciphertext, options } = encryptLayer(plain);
    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    const chunks = [tampered.subarray(0, 2000), ...Array.from(tampered.subarray(2000), (b) => Buffer.from([b]))];
    const result = await run(chunks, new LayerDecryptor(options()));
    assert.ok(result.error instanceof IntegrityError);
    assert.ok(result.output.length <= plain.length - HELD_BACK_BYTES, `released ${result.output.length}`);
  });

  it('overwrites the caller\'s copy of the layer key', () => {
    const { options } = encryptLayer(Buffer.from('x'));
    const opts = options();
    new LayerDecryptor(opts);
    assert.ok(opts.symmetricKey.equals(Buffer.alloc(32)));
  });
});
