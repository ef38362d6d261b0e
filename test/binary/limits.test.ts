/** Limits on what an image, a payload or a keys directory can make the decoder do. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fixtureKey, loadLayerCase, sha256 } from '../support/fixtures.ts';
import { encodePayload } from '../support/payload.ts';
import { runDecoder } from '../support/run-decoder.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const layer = loadLayerCase('jwe', 'rsa2048-gzip');
const KEY = fixtureKey('jwe', 'rsa2048.pkcs8.pem');

function decryptWith(keysDir: string, descriptor: unknown = layer.descriptor, payload = encodePayload(descriptor)) {
  return runDecoder({ args: ['--decryption-keys-path', keysDir], stdin: layer.encrypted, payload });
}

describe('limits', () => {
  it('a payload over 16 MiB: ERR_PAYLOAD_INVALID, read no further', async () => {
    const run = await decryptWith(temporaryDirectory(), null, Buffer.alloc(17 * 1024 * 1024, 0x0a));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^ctd-decoder: ERR_PAYLOAD_INVALID: decryption payload is larger than 16777216 bytes/);
  });

  it('more wrapped-key items than any encryptor writes: ERR_BAD_ANNOTATION, no item tried', async () => {
    const jwe = layer.descriptor.annotations['org.opencontainers.image.enc.keys.jwe']!;
    const annotations = { ...layer.descriptor.annotations, 'org.opencontainers.image.enc.keys.jwe': Array(300).fill(jwe).join(',') };
    const keysDir = temporaryDirectory();
    writeFileSync(join(keysDir, 'key.pem'), KEY);
    const run = await decryptWith(keysDir, { ...layer.descriptor, annotations });
    assert.match(run.stderr, /^ctd-decoder: ERR_BAD_ANNOTATION layer sha256:[0-9a-f]+: layer's wrapped keys are malformed or corrupt \(jwe: 300 items \(limit 64\)\)/);
  });

  it('a keys directory with more than 1000 files stops reading; the key before the cut still works', async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, '0000-key.pem'), KEY);
    for (let i = 0; i < 1100; i++) writeFileSync(join(dir, `junk-${String(i).padStart(5, '0')}`), 'x');
    const run = await decryptWith(dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(sha256(run.stdout), sha256(layer.plain));
  });

  it('a key beyond the file limit is not read, and the error says why', async () => {
    const dir = temporaryDirectory();
    for (let i = 0; i < 1001; i++) writeFileSync(join(dir, `junk-${String(i).padStart(5, '0')}`), 'x');
    writeFileSync(join(dir, 'zzzz-key.pem'), KEY);
    const run = await decryptWith(dir);
    assert.match(run.stderr, /^ctd-decoder: ERR_NO_KEY_SUPPLIED .*more than 1000 files in the keys directory/);
  });

  it('files over 4 MiB are skipped; deep nesting is cut at 16 levels; non-UTF-8 names are fine', async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, 'huge.pem'), Buffer.alloc(5 * 1024 * 1024, 0x41));
    let deep = dir;
    for (let i = 0; i < 20; i++) deep = join(deep, `d${i}`);
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'deep-key.pem'), KEY);
    const failed = await decryptWith(dir);
    assert.match(failed.stderr, /^ctd-decoder: ERR_NO_KEY_SUPPLIED .*larger than 4194304 bytes/);
    writeFileSync(Buffer.concat([Buffer.from(dir + '/key-'), Buffer.from([0xff, 0xfe]), Buffer.from('.pem')]), KEY);
    const run = await decryptWith(dir);
    assert.equal(run.code, 0, run.stderr);
  });
});
