import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertCodedFailure, assertDecrypted, decrypt } from '../support/assertions.ts';
import { FIXTURES, fixtureKey, keysDirectoryWith, loadLayerCase, type LayerCase } from '../support/fixtures.ts';
import type { Parameters } from '../support/payload.ts';
import type { DecoderRun } from '../support/run-decoder.ts';

const ITEMS = join(FIXTURES, 'pkcs7', 'items');
const PKCS7_ANNOTATION = 'org.opencontainers.image.enc.keys.pkcs7';

const layer = (name: string): LayerCase => loadLayerCase('pkcs7', name);
const keyFile = (name: string): Buffer => fixtureKey('pkcs7', name);

/** The same layer with its pkcs7 item replaced (the item is still for the same private options). */
function withItem(base: LayerCase, item: Buffer): LayerCase {
  const annotations = { ...base.descriptor.annotations, [PKCS7_ANNOTATION]: item.toString('base64') };
  return { ...base, descriptor: { ...base.descriptor, annotations } };
}

function pkcs7Item(of: LayerCase): Buffer {
  return Buffer.from(of.descriptor.annotations[PKCS7_ANNOTATION]!, 'base64');
}

/** Runs the decoder as containerd does, with a fresh keys directory holding copies of the named fixture key files. */
function decode(of: LayerCase, keys: { directory?: readonly string[]; parameters?: Parameters }): Promise<DecoderRun> {
  return decrypt(of, keysDirectoryWith('pkcs7', ...(keys.directory ?? [])), keys.parameters ?? {});
}

/** Exit 1, nothing on stdout, exactly one stderr line with the code, naming a layer; returns that line. */
function assertFailure(run: DecoderRun, code: string): string {
  assertCodedFailure(run, code, { layer: null, noOutput: true });
  assert.match(run.stderr, /^ctd-decoder: ERR_[A-Z_]+ layer sha256:[0-9a-f]{64}: /);
  return run.stderr.slice(0, -1);
}

describe('pkcs7 layers made by skopeo (Go encoder, GCM parameter quirk)', () => {
  for (const name of ['rsa2048-gzip', 'rsa2048-zstd', 'rsa2048-tar']) {
    it(`${name}: key and certificate in the keys directory`, async () => {
      assertDecrypted(await decode(layer(name), { directory: ['rsa2048.key.pem', 'rsa2048.cert.pem'] }), layer(name));
    });

    it(`${name}: private key alone in the keys directory (the Go decoder cannot)`, async () => {
      assertDecrypted(await decode(layer(name), { directory: ['rsa2048.key.pem'] }), layer(name));
    });
  }

  it('key in payload privkeys, certificate in payload x509s (as imgcrypt clients send)', async () => {
    const of = layer('rsa2048-gzip');
    const parameters = { privkeys: [keyFile('rsa2048.key.pem')], 'privkeys-passwords': [null], x509s: [keyFile('rsa2048.cert.pem')] };
    assertDecrypted(await decode(of, { parameters }), of);
  });

  it('certificate in the keys directory, key in the payload', async () => {
    const of = layer('rsa2048-gzip');
    assertDecrypted(await decode(of, { directory: ['rsa2048.cert.pem'], parameters: { privkeys: [keyFile('rsa2048.key.pem')] } }), of);
  });

  it('two recipients: either key opens it, with or without its certificate', async () => {
    const of = layer('two-gzip');
    assertDecrypted(await decode(of, { directory: ['rsa2048.key.pem'] }), of);
    assertDecrypted(await decode(of, { directory: ['rsa3072.key.pem'] }), of);
    assertDecrypted(await decode(of, { directory: ['rsa3072.cert.pem', 'rsa3072.key.pem', 'wrong-rsa2048.key.pem'] }), of);
    // A recipient's certificate without its key does not stop the other recipient's key.
    assertDecrypted(await decode(of, { directory: ['rsa2048.cert.pem', 'rsa3072.key.pem'] }), of);
  });
});

describe('pkcs7 items made by openssl cms', () => {
  it('RFC 5084 GCM parameters (AuthEnvelopedData, aes128-GCM): key with and without certificate', async () => {
    const of = layer('rfc5084-gzip');
    assertDecrypted(await decode(of, { directory: ['rsa2048.cert.pem', 'rsa2048.key.pem'] }), of);
    assertDecrypted(await decode(of, { directory: ['rsa2048.key.pem'] }), of);
  });

  it('AES-256-CBC EnvelopedData with primitive content: key with and without certificate', async () => {
    const of = layer('cbc-gzip');
    assertDecrypted(await decode(of, { directory: ['rsa2048.cert.pem', 'rsa2048.key.pem'] }), of);
    assertDecrypted(await decode(of, { directory: ['rsa2048.key.pem'] }), of);
  });

  const items = readdirSync(ITEMS).filter((file) => file.endsWith('.der'));
  for (const file of items) {
    it(`${file} in place of the skopeo item`, async () => {
      const of = withItem(layer('rsa2048-gzip'), readFileSync(join(ITEMS, file)));
      assertDecrypted(await decode(of, { directory: ['rsa2048.cert.pem', 'rsa2048.key.pem'] }), of);
      assertDecrypted(await decode(of, { directory: ['rsa2048.key.pem'] }), of);
    });
  }
});

describe('jwe and pkcs7 recipients on one layer', () => {
  const of = layer('mixed-gzip');

  it('opens with only the JWE (EC) key', async () => {
    assertDecrypted(await decode(of, { directory: ['ec256.key.pem'] }), of);
  });

  it('opens with only the PKCS#7 (RSA) key, after JWE tried it and failed', async () => {
    assertDecrypted(await decode(of, { directory: ['rsa2048.key.pem'] }), of);
    assertDecrypted(await decode(of, { directory: ['rsa2048.cert.pem', 'rsa2048.key.pem'] }), of);
  });

  it('reports both schemes when neither key fits', async () => {
    const line = assertFailure(await decode(of, { directory: ['wrong-rsa2048.key.pem'] }), 'ERR_NO_MATCHING_KEY');
    assert.match(line, /jwe: .*; pkcs7: no private key fits \(1 RSA key tried against 1 recipient\)/);
  });
});

describe('pkcs7 failures', () => {
  const of = layer('rsa2048-gzip');

  it('no key at all: ERR_NO_KEY_SUPPLIED', async () => {
    const line = assertFailure(await decode(of, {}), 'ERR_NO_KEY_SUPPLIED');
    assert.match(line, /pkcs7: no RSA private key supplied/);
  });

  it('only a non-RSA key: ERR_NO_KEY_SUPPLIED', async () => {
    const line = assertFailure(await decode(of, { directory: ['ec256.key.pem'] }), 'ERR_NO_KEY_SUPPLIED');
    assert.match(line, /pkcs7: no RSA private key supplied/);
  });

  it('only the certificate: ERR_NO_KEY_SUPPLIED, saying a certificate cannot decrypt', async () => {
    const line = assertFailure(await decode(of, { directory: ['rsa2048.cert.pem'] }), 'ERR_NO_KEY_SUPPLIED');
    assert.match(line, /pkcs7: no RSA private key supplied \(a certificate alone cannot decrypt\)/);
  });

  it('wrong key: ERR_NO_MATCHING_KEY', async () => {
    const line = assertFailure(await decode(of, { directory: ['wrong-rsa2048.cert.pem', 'wrong-rsa2048.key.pem'] }), 'ERR_NO_MATCHING_KEY');
    assert.match(line, /pkcs7: no private key fits \(1 RSA key tried against 1 recipient\)/);
  });

  it('certificate without its key: ERR_NO_MATCHING_KEY naming the certificate', async () => {
    const line = assertFailure(await decode(of, { directory: ['rsa2048.cert.pem', 'wrong-rsa2048.key.pem'] }), 'ERR_NO_MATCHING_KEY');
    assert.match(
      line,
      /pkcs7: certificate CN=ctd-decoder test pkcs7 rsa2048 \(serial [0-9A-F]+\) matches a recipient but its private key is not supplied \(1 RSA key tried against 1 recipient\)/,
    );
  });

  it('tampered item (GCM tag): with the certificate proving the key right, ERR_BAD_ANNOTATION (item altered); the key alone cannot tell, ERR_NO_MATCHING_KEY', async () => {
    const item = Buffer.from(pkcs7Item(of));
    item[item.length - 1] ^= 0x01;
    const tampered = withItem(of, item);
    const withCertificate = assertFailure(await decode(tampered, { directory: ['rsa2048.cert.pem', 'rsa2048.key.pem'] }), 'ERR_BAD_ANNOTATION');
    assert.match(withCertificate, /pkcs7: certificate CN=ctd-decoder test pkcs7 rsa2048 .* but the content does not decrypt: item altered or corrupt.* — the image's wrapped keys are corrupt/);
    const keyAlone = assertFailure(await decode(tampered, { directory: ['rsa2048.key.pem'] }), 'ERR_NO_MATCHING_KEY');
    assert.match(keyAlone, /pkcs7: no private key fits/);
  });

  it('tampered CBC item: ERR_NO_MATCHING_KEY', async () => {
    const cbc = layer('cbc-gzip');
    const item = Buffer.from(pkcs7Item(cbc));
    item[item.length - 20] ^= 0x80;
    assertFailure(await decode(withItem(cbc, item), { directory: ['rsa2048.key.pem'] }), 'ERR_NO_MATCHING_KEY');
  });

  it('truncated item: ERR_BAD_ANNOTATION saying the item is malformed', async () => {
    const item = pkcs7Item(of);
    const line = assertFailure(await decode(withItem(of, item.subarray(0, item.length - 10)), { directory: ['rsa2048.key.pem'] }), 'ERR_BAD_ANNOTATION');
    assert.match(line, /pkcs7: item 0: bad ASN\.1: element runs past the end/);
  });

  it('never prints key material', async () => {
    const run = await decode(of, { directory: ['rsa2048.cert.pem', 'wrong-rsa2048.key.pem'] });
    const key = keyFile('wrong-rsa2048.key.pem').toString().split('\n')[1]!;
    assert.ok(!run.stderr.includes(key.slice(0, 16)));
    assert.ok(!run.stderr.includes(pkcs7Item(of).toString('base64').slice(0, 16)));
  });
});
