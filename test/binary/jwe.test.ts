import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeAny, encodePayload, PAYLOAD_TYPE_URL } from '../support/payload.ts';
import { runDecoder, type DecoderRun } from '../support/run-decoder.ts';
import { assertCodedFailure, assertDecrypted, decrypt, itDecryptsEveryCaseWithEachRecipient } from '../support/assertions.ts';
import { fixtureKey, keysDirectoryWith, loadLayerCase, type LayerCase } from '../support/fixtures.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const PASSWORD = fixtureKey('jwe', 'rsa2048.password').toString('utf8').trim();
const RSA_GZIP = loadLayerCase('jwe', 'rsa2048-gzip');
const EC_TAR = loadLayerCase('jwe', 'ec256-tar');
const keys = () => keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');

/** One coded line naming the layer (unless null), no password. */
function assertFails(run: DecoderRun, code: string, layer: LayerCase | null = RSA_GZIP): RegExpExecArray {
  return assertCodedFailure(run, code, { layer, secrets: [PASSWORD] });
}

describe('JWE layers made by skopeo decrypt byte-identically', () => itDecryptsEveryCaseWithEachRecipient('jwe'));

describe('key forms', () => {
  it('encrypted PKCS#8 with its NAME.password file', async () => {
    const dir = keysDirectoryWith('jwe', 'rsa2048.pkcs8-encrypted.pem');
    writeFileSync(join(dir, 'rsa2048.pkcs8-encrypted.pem.password'), PASSWORD + '\n');
    assertDecrypted(await decrypt(RSA_GZIP, dir), RSA_GZIP);
  });

  for (const name of ['rsa2048.pkcs8-encrypted.pem', 'rsa2048.dekinfo.pem']) {
    it(`${name} in the payload with privkeys-passwords`, async () => {
      const run = await decrypt(RSA_GZIP, null, { privkeys: [fixtureKey('jwe', name)], 'privkeys-passwords': [Buffer.from(PASSWORD)] });
      assertDecrypted(run, RSA_GZIP);
    });
  }

  it('key only in the payload, password entry null', async () => {
    const run = await decrypt(EC_TAR, null, { privkeys: [fixtureKey('jwe', 'ec256.sec1.pem')], 'privkeys-passwords': [null] });
    assertDecrypted(run, EC_TAR);
  });

  it('keys directory first, payload keys appended: a wrong key in the directory does not hide the payload key', async () => {
    const run = await decrypt(RSA_GZIP, keysDirectoryWith('jwe', 'wrong-rsa2048.pkcs8.pem'), { privkeys: [fixtureKey('jwe', 'rsa2048.pkcs1.der')] });
    assertDecrypted(run, RSA_GZIP);
  });

  it('password-protected key without password is skipped, other keys still tried', async () => {
    const dir = keysDirectoryWith('jwe', 'rsa2048.dekinfo.pem', 'ec256.pkcs8.pem', 'rsa2048.pub.pem', 'rsa2048.cert.pem');
    writeFileSync(join(dir, 'README'), 'these are the node keys\n');
    const layer = loadLayerCase('jwe', 'two-gzip');
    assertDecrypted(await decrypt(layer, dir), layer);
  });

  it('Kubernetes Secret volume layout (..data symlinks) is followed', async () => {
    const dir = temporaryDirectory();
    mkdirSync(join(dir, '..2026_11_28_00_00_00.000000001'));
    writeFileSync(join(dir, '..2026_11_28_00_00_00.000000001', 'key.pem'), fixtureKey('jwe', 'rsa2048.pkcs8.pem'));
    symlinkSync('..2026_11_28_00_00_00.000000001', join(dir, '..data'));
    symlinkSync('..data/key.pem', join(dir, 'key.pem'));
    assertDecrypted(await decrypt(RSA_GZIP, dir), RSA_GZIP);
  });

  it('a symlink leaving the keys directory is not followed', async () => {
    const outside = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');
    const dir = temporaryDirectory();
    symlinkSync(join(outside, 'rsa2048.pkcs8.pem'), join(dir, 'key.pem'));
    const match = assertFails(await decrypt(RSA_GZIP, dir), 'ERR_NO_KEY_SUPPLIED');
    assert.match(match[0], /symlink points outside the keys directory/);
    assert.match(match[0], / — put the private key matching the image's encryption recipient/);
  });

  it('nested directories are walked', async () => {
    const dir = temporaryDirectory();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'a', 'b', 'k.der'), fixtureKey('jwe', 'rsa2048.pkcs8.der'));
    assertDecrypted(await decrypt(RSA_GZIP, dir), RSA_GZIP);
  });
});

describe('failures: one coded line, nothing released unverified', () => {
  it('wrong key: ERR_NO_MATCHING_KEY', async () => {
    const match = assertFails(await decrypt(RSA_GZIP, keysDirectoryWith('jwe', 'wrong-rsa2048.pkcs8.pem', 'wrong-ec256.pkcs8.pem')), 'ERR_NO_MATCHING_KEY');
    assert.match(match[0], /jwe: no private key fits \(2 private keys tried\)/);
  });

  it('no key: ERR_NO_KEY_SUPPLIED, naming what was skipped', async () => {
    const run = await decrypt(RSA_GZIP, keysDirectoryWith('jwe', 'rsa2048.pub.pem', 'rsa2048.dekinfo.pem'));
    const match = assertFails(run, 'ERR_NO_KEY_SUPPLIED');
    assert.match(match[0], /public key/);
    assert.match(match[0], /password-protected/);
    assert.match(match[0], / — a key above is locked: give its password in NAME\.password beside the key file NAME/);
    assert.equal(run.stdout.length, 0);
  });

  it('no keys directory argument and no payload keys: ERR_NO_KEY_SUPPLIED', async () => {
    assertFails(await decrypt(RSA_GZIP, null), 'ERR_NO_KEY_SUPPLIED');
  });

  it('a keys directory that does not exist is reported, not fatal', async () => {
    const match = assertFails(await decrypt(RSA_GZIP, '/nonexistent/keys'), 'ERR_NO_KEY_SUPPLIED');
    assert.match(match[0], /directory does not exist: \/nonexistent\/keys/);
  });

  it('wrong password in the payload: ERR_NO_KEY_SUPPLIED naming the wrong password', async () => {
    const run = await decrypt(RSA_GZIP, null, { privkeys: [fixtureKey('jwe', 'rsa2048.pkcs8-encrypted.pem')], 'privkeys-passwords': [Buffer.from('not-it')] });
    const match = assertFails(run, 'ERR_NO_KEY_SUPPLIED');
    assert.match(match[0], /wrong password/);
    assert.match(match[0], / — a key above is locked: give its password .*privkeys-passwords/);
    assert.ok(!run.stderr.includes('not-it'));
  });

  for (const [what, mutate] of [
    ['a flipped ciphertext byte', (b: Buffer) => { const c = Buffer.from(b); c[c.length >> 1]! ^= 0x01; return c; }],
    ['a flipped last byte', (b: Buffer) => { const c = Buffer.from(b); c[c.length - 1]! ^= 0x80; return c; }],
    ['truncation mid-stream', (b: Buffer) => b.subarray(0, b.length - 1000)],
    ['truncation of the last byte', (b: Buffer) => b.subarray(0, b.length - 1)],
    ['an empty blob', () => Buffer.alloc(0)],
    ['appended bytes', (b: Buffer) => Buffer.concat([b, Buffer.from('extra')])],
  ] as const) {
    for (const layer of [RSA_GZIP, loadLayerCase('jwe', 'rsa2048-tar')]) {
      it(`${what} (${layer.name}): ERR_INTEGRITY, output shorter than the layer`, async () => {
        const run = await runDecoder({ args: ['--decryption-keys-path', keys()], stdin: mutate(layer.encrypted), payload: encodePayload(layer.descriptor) });
        assertFails(run, 'ERR_INTEGRITY', layer);
        assert.ok(run.stdout.length < layer.plain.length, `released ${run.stdout.length} of ${layer.plain.length}`);
      });
    }
  }

  const withAnnotations = (changes: Record<string, string | undefined>) => {
    const annotations: Record<string, string> = { ...RSA_GZIP.descriptor.annotations };
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) delete annotations[key];
      else annotations[key] = value;
    }
    return { ...RSA_GZIP.descriptor, annotations };
  };
  const pubopts = (json: object) => Buffer.from(JSON.stringify(json)).toString('base64');
  const realPubopts = JSON.parse(Buffer.from(RSA_GZIP.descriptor.annotations['org.opencontainers.image.enc.pubopts']!, 'base64').toString());

  for (const [what, descriptor, code] of [
    ['altered HMAC', withAnnotations({ 'org.opencontainers.image.enc.pubopts': pubopts({ ...realPubopts, hmac: Buffer.alloc(32, 7).toString('base64') }) }), 'ERR_INTEGRITY'],
    ['missing HMAC', withAnnotations({ 'org.opencontainers.image.enc.pubopts': pubopts({ ...realPubopts, hmac: undefined }) }), 'ERR_CIPHER_OPTIONS'],
    ['missing pubopts', withAnnotations({ 'org.opencontainers.image.enc.pubopts': undefined }), 'ERR_CIPHER_OPTIONS'],
    ['unknown cipher', withAnnotations({ 'org.opencontainers.image.enc.pubopts': pubopts({ ...realPubopts, cipher: 'AES_128_GCM' }) }), 'ERR_CIPHER_OPTIONS'],
    ['bad base64 in wrapped keys', withAnnotations({ 'org.opencontainers.image.enc.keys.jwe': 'not*base64' }), 'ERR_BAD_ANNOTATION'],
    ['bad base64 in pubopts', withAnnotations({ 'org.opencontainers.image.enc.pubopts': '%%%' }), 'ERR_BAD_ANNOTATION'],
    ['bad JSON in pubopts', withAnnotations({ 'org.opencontainers.image.enc.pubopts': Buffer.from('{"cipher":').toString('base64') }), 'ERR_CIPHER_OPTIONS'],
    ['no wrapped keys at all', withAnnotations({ 'org.opencontainers.image.enc.keys.jwe': undefined }), 'ERR_NOT_ENCRYPTED'],
    ['a JWE item that is not JWE', withAnnotations({ 'org.opencontainers.image.enc.keys.jwe': Buffer.from('{"nope":1}').toString('base64') }), 'ERR_BAD_ANNOTATION'],
  ] as const) {
    it(`${what}: ${code}`, async () => {
      const run = await decrypt(RSA_GZIP, keys(), null, descriptor);
      assertFails(run, code);
      assert.ok(run.stdout.length < RSA_GZIP.plain.length);
      if (code !== 'ERR_INTEGRITY') assert.equal(run.stdout.length, 0);
      assert.ok(!run.stderr.includes(realPubopts.hmac), 'HMAC value printed');
    });
  }

  it('malformed wrapped keys are reported as a corrupt image, not as a key problem', async () => {
    const notJwe = assertFails(await decrypt(RSA_GZIP, keys(), null, withAnnotations({ 'org.opencontainers.image.enc.keys.jwe': Buffer.from('{"nope":1}').toString('base64') })), 'ERR_BAD_ANNOTATION');
    assert.match(notJwe[0], /: layer's wrapped keys are malformed or corrupt \(jwe: no item is a JWE \(1 malformed\)\) — the image's wrapped keys are corrupt; re-encrypt or re-push it/);
    const notBase64 = assertFails(await decrypt(RSA_GZIP, keys(), null, withAnnotations({ 'org.opencontainers.image.enc.keys.jwe': 'not*base64' })), 'ERR_BAD_ANNOTATION');
    assert.match(notBase64[0], /\(jwe: item 0 is not valid base64\)/);
  });

  it('bad payload JSON: ERR_PAYLOAD_INVALID', async () => {
    const run = await runDecoder({ args: [], stdin: RSA_GZIP.encrypted, payload: encodeAny(PAYLOAD_TYPE_URL, Buffer.from('{"Descriptor":{')) });
    assertFails(run, 'ERR_PAYLOAD_INVALID', null);
    assert.equal(run.stdout.length, 0);
  });

  it('no fd 3 at all, --require-payload: ERR_NO_PAYLOAD with the containerd settings to change', async () => {
    const run = await runDecoder({ args: ['--decryption-keys-path', keys(), '--require-payload'], stdin: RSA_GZIP.encrypted, payload: 'none' });
    const match = assertFails(run, 'ERR_NO_PAYLOAD', null);
    assert.match(match[0], /key_model = "node"/);
    assert.match(match[0], /use_local_image_pull = true/);
  });

  it('fd 3 that is not a pipe (a character device), --require-payload: ERR_NO_PAYLOAD', async () => {
    const run = await runDecoder({ args: ['--require-payload'], stdin: RSA_GZIP.encrypted, payload: { path: '/dev/null' } });
    assert.match(assertFails(run, 'ERR_NO_PAYLOAD', null)[0], /: no decryption payload \(fd 3 is not a pipe, socket or file\), and --require-payload is set — /);
  });

  it('payload in a regular file on fd 3 is read', async () => {
    const file = join(temporaryDirectory(), 'payload');
    writeFileSync(file, encodePayload(RSA_GZIP.descriptor));
    assertDecrypted(await runDecoder({ args: ['--decryption-keys-path', keys()], stdin: RSA_GZIP.encrypted, payload: { path: file } }), RSA_GZIP);
  });

  it('unreadable keys directory: ERR_KEYS_DIR', async () => {
    const file = join(temporaryDirectory(), 'not-a-directory');
    writeFileSync(file, 'x');
    assertFails(await decrypt(RSA_GZIP, file), 'ERR_KEYS_DIR');
  });

  it('keys directory without read permission: ERR_KEYS_DIR', { skip: process.getuid?.() === 0 ? 'root reads any directory' : false }, async () => {
    const dir = keys();
    chmodSync(dir, 0o000);
    try {
      assertFails(await decrypt(RSA_GZIP, dir), 'ERR_KEYS_DIR');
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  it('usage error: ERR_USAGE', async () => {
    const run = await runDecoder({ args: ['--bogus'], stdin: Buffer.alloc(0), payload: 'none' });
    assertFails(run, 'ERR_USAGE', null);
  });
});

describe('command line', () => {
  it('--version and --help print and exit 0 without a payload', async () => {
    const version = await runDecoder({ args: ['--version'], stdin: Buffer.alloc(0), payload: 'none' });
    assert.equal(version.code, 0);
    assert.match(version.stdout.toString(), /^ctd-decoder \d+\.\d+\.\d+\n$/);
    // `--version` alone is answered by packaging/sea-main.cjs before the decoder loads; any other spelling by the decoder.
    const parsed = await runDecoder({ args: ['--version=true'], stdin: Buffer.alloc(0), payload: 'none' });
    assert.equal(parsed.code, 0);
    assert.equal(parsed.stdout.toString(), version.stdout.toString());
    const help = await runDecoder({ args: ['-h'], stdin: Buffer.alloc(0), payload: 'none' });
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString(), /--decryption-keys-path DIR/);
  });

  for (const args of [['-decryption-keys-path', 'DIR'], ['--decryption-keys-path=DIR'], ['-decryption-keys-path=DIR']]) {
    it(`accepts ${args.join(' ')}`, async () => {
      const dir = keys();
      const run = await runDecoder({ args: args.map((a) => a.replace('DIR', dir)), stdin: RSA_GZIP.encrypted, payload: encodePayload(RSA_GZIP.descriptor) });
      assertDecrypted(run, RSA_GZIP);
    });
  }
});
