/**
 * Property-based: arbitrary and mutated inputs to every parser reachable from
 * an image or a payload produce our coded errors or a result, never an
 * uncaught runtime error or a hang.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { layerCipherOptions, parsePublicOptions } from '../../src/blockcipher/options.ts';
import { unwrapLayerKey } from '../../src/decode/unwrap-layer-key.ts';
import { DecoderError } from '../../src/errors.ts';
import { classifyKeyFile } from '../../src/keys/classify.ts';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { decodePayload } from '../../src/payload/payload.ts';
import { PAYLOAD_TYPE_URL, encodeAny, encodePayload } from '../support/payload.ts';
import { fixtureKey, loadLayerCase } from '../support/fixtures.ts';

const RUNS = Number(process.env['HOSTILE_RUNS'] ?? 1000);
const TIME_LIMIT_MS = 20_000;
const layer = loadLayerCase('jwe', 'two-gzip');
const keys = assembleDecryptionKeys([{ path: 'k', bytes: fixtureKey('jwe', 'rsa2048.pkcs8.pem') }], new Map());

/** Passes when `error` is one of our coded, one-line errors. */
function assertCoded(error: unknown): void {
  if (!(error instanceof DecoderError)) throw new Error(`uncoded ${String(error)}`, { cause: error });
  assert.match(error.code, /^ERR_[A-Z_]+$/);
  assert.ok(!/[\r\n]/.test(error.message), 'one line');
}

/** Runs `body`; passes when it returns or throws one of our coded errors. */
async function onlyCodedErrors(body: () => unknown): Promise<void> {
  try {
    await body();
  } catch (error) {
    assertCoded(error);
  }
}

function onlyCodedErrorsSync(body: () => unknown): void {
  try {
    body();
  } catch (error) {
    assertCoded(error);
  }
}

/** A byte array with some bytes flipped, cut or extended. */
const mutated = (original: Uint8Array) =>
  fc.oneof(
    fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
      const copy = Buffer.from(original);
      for (const [at, xor] of flips) copy[at]! ^= xor;
      return copy;
    }),
    fc.nat(original.length).map((cut) => Buffer.from(original.subarray(0, cut))),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Buffer.concat([original, tail])),
  );

const settings = { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS };

describe('hostile input never escapes as an uncoded error', () => {
  it('payload decoder: arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => onlyCodedErrorsSync(() => decodePayload(bytes))), settings);
  });

  it('payload decoder: mutated real payloads', async () => {
    const payload = encodePayload(layer.descriptor, { privkeys: [Buffer.from('k')], 'privkeys-passwords': [null] });
    await fc.assert(fc.asyncProperty(mutated(payload), (bytes) => onlyCodedErrors(() => decodePayload(bytes))), settings);
  });

  it('payload decoder: arbitrary JSON values in every position', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), async (parameters, annotations, size) => {
        const json = { DecryptConfig: { Parameters: parameters }, Descriptor: { mediaType: 'm', digest: 'd', size, annotations } };
        await onlyCodedErrors(() => decodePayload(encodePayloadRaw(json)));
      }),
      settings,
    );
  });

  it('public and private layer options: arbitrary JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), async (pub, priv) => {
        await onlyCodedErrors(() => layerCipherOptions(parsePublicOptions(Buffer.from(JSON.stringify(pub))), Buffer.from(JSON.stringify(priv))));
      }),
      settings,
    );
  });

  it('options with the right cipher and arbitrary fields', async () => {
    const field = fc.oneof(fc.string(), fc.base64String(), fc.array(fc.integer({ min: -1, max: 300 })), fc.constant(null), fc.integer());
    await fc.assert(
      fc.asyncProperty(field, field, field, async (hmac, symkey, nonce) => {
        const pub = Buffer.from(JSON.stringify({ cipher: 'AES_256_CTR_HMAC_SHA256', hmac, cipheroptions: {} }));
        const priv = Buffer.from(JSON.stringify({ symkey, digest: '', cipheroptions: { nonce } }));
        await onlyCodedErrors(() => layerCipherOptions(parsePublicOptions(pub), priv));
      }),
      settings,
    );
  });

  it('annotations: arbitrary and mutated wrapped keys and options reach only coded errors', async () => {
    const real = layer.descriptor.annotations;
    const jweItem = Buffer.from(real['org.opencontainers.image.enc.keys.jwe']!, 'base64');
    const annotationValue = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.base64String({ maxLength: 200 }),
      mutated(jweItem).map((bytes) => bytes.toString('base64')),
      mutated(jweItem).map((bytes) => `${bytes.toString('base64')},${real['org.opencontainers.image.enc.keys.jwe']}`),
    );
    await fc.assert(
      fc.asyncProperty(annotationValue, fc.option(annotationValue), fc.constantFrom('jwe', 'pgp', 'pkcs7', 'unknown'), async (wrapped, pubopts, scheme) => {
        const annotations = new Map([[`org.opencontainers.image.enc.keys.${scheme}`, wrapped]]);
        if (pubopts !== null) annotations.set('org.opencontainers.image.enc.pubopts', pubopts);
        await onlyCodedErrors(() => unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations }, keys));
      }),
      { ...settings, numRuns: Math.ceil(RUNS / 3) },
    );
  });

  for (const [scheme, layerCase, keyFiles, runs] of [
    ['pkcs7', loadLayerCase('pkcs7', 'two-gzip'), [['pkcs7', 'rsa2048.key.pem'], ['pkcs7', 'rsa2048.cert.pem']], RUNS / 4],
    ['pgp', loadLayerCase('pgp', 'alice'), [['pgp', 'alice.sec.gpg']], RUNS / 10],
  ] as const) {
    it(`${scheme}: mutated real items, unwrapped with the right key, reach only coded errors`, async () => {
      const annotations = layerCase.descriptor.annotations;
      const item = Buffer.from(annotations[`org.opencontainers.image.enc.keys.${scheme}`]!.split(',')[0]!, 'base64');
      const schemeKeys = assembleDecryptionKeys(keyFiles.map(([dir, name]) => ({ path: name, bytes: fixtureKey(dir, name) })), new Map());
      await fc.assert(
        fc.asyncProperty(mutated(item), async (bytes) => {
          const mutatedAnnotations = new Map([
            [`org.opencontainers.image.enc.keys.${scheme}`, bytes.toString('base64')],
            ['org.opencontainers.image.enc.pubopts', annotations['org.opencontainers.image.enc.pubopts']!],
          ]);
          await onlyCodedErrors(() => unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations: mutatedAnnotations }, schemeKeys));
        }),
        { ...settings, numRuns: Math.ceil(runs) },
      );
    });
  }

  it('key classifier: arbitrary bytes and mutated real keys, with and without password', () => {
    const realKeys = ['rsa2048.pkcs8.der', 'ec256.sec1.pem', 'rsa2048.jwk.json', 'rsa2048.dekinfo.pem', 'rsa2048.cert.pem'].map((n) => fixtureKey('jwe', n));
    const input = fc.oneof(fc.uint8Array({ maxLength: 600 }), ...realKeys.map((key) => mutated(key)));
    fc.assert(
      fc.property(input, fc.option(fc.uint8Array({ maxLength: 16 })), (bytes, password) => {
        classifyKeyFile(bytes, password);
      }),
      settings,
    );
  });
});

function encodePayloadRaw(json: unknown): Buffer {
  return encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify(json)));
}
