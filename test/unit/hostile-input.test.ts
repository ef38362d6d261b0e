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
import { jweScheme } from '../../src/keywrap/jwe.ts';
import { childrenOf, readElement, UNIVERSAL_TAG, isUniversal, type Tlv } from '../../src/keywrap/pkcs7/der.ts';
import { pkcs7Scheme } from '../../src/keywrap/pkcs7.ts';
import { UnwrapFailure } from '../../src/keywrap/scheme.ts';
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

describe('hostile input, long and wide (issue 12): coded errors, and a good scheme still opens the layer', () => {
  const PREFIX = 'org.opencontainers.image.enc.keys.';
  const PUBOPTS = 'org.opencontainers.image.enc.pubopts';
  const mixed = loadLayerCase('pkcs7', 'mixed-gzip').descriptor.annotations;
  const mixedKeys = assembleDecryptionKeys(
    [
      { path: 'rsa2048.key.pem', bytes: fixtureKey('pkcs7', 'rsa2048.key.pem') },
      { path: 'ec256.key.pem', bytes: fixtureKey('pkcs7', 'ec256.key.pem') },
    ],
    new Map(),
  );
  const unwrap = (annotations: Record<string, string>) =>
    unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations: new Map(Object.entries({ [PUBOPTS]: mixed[PUBOPTS]!, ...annotations })) }, mixedKeys);
  const longOid = Buffer.concat([Buffer.from([0x06, 0x83, 0x01, 0x86, 0xa2, 0x2a]), Buffer.alloc(100_000, 0x81), Buffer.from([0x01])]);

  it('a 100 KB OBJECT IDENTIFIER in every DER position of a real PKCS#7 item', async () => {
    const item = Buffer.from(mixed[`${PREFIX}pkcs7`]!, 'base64');
    const positions = oidPositions(readElement(item));
    assert.ok(positions >= 4, `${positions} OIDs`);
    for (let position = 0; position < positions; position++) {
      const hostile = withOidReplaced(readElement(item), position, longOid).toString('base64');
      await onlyCodedErrors(() => unwrap({ [`${PREFIX}pkcs7`]: hostile }));
      assert.ok((await pkcs7Scheme.describeRecipients!([Buffer.from(hostile, 'base64')])).every((line) => line.length < 300));
      // The jwe item of the same layer still opens it.
      assert.equal((await unwrap({ [`${PREFIX}pkcs7`]: hostile, [`${PREFIX}jwe`]: mixed[`${PREFIX}jwe`]! })).symmetricKey.length, 32);
    }
  });

  for (const scheme of ['jwe', 'pkcs7', 'pgp', 'pkcs11', 'provider.hostile']) {
    it(`5 MB of base64, valid or not, in the ${scheme} annotation`, async () => {
      const junk = Buffer.alloc(3_750_000, 0x5a).toString('base64');
      const good: Record<string, string> = scheme === 'jwe' ? { [`${PREFIX}pkcs7`]: mixed[`${PREFIX}pkcs7`]! } : { [`${PREFIX}jwe`]: mixed[`${PREFIX}jwe`]! };
      for (const value of [junk, `${junk.slice(0, -1)}!`, `${junk},${junk}`]) {
        await onlyCodedErrors(() => unwrap({ [`${PREFIX}${scheme}`]: value }));
        assert.equal((await unwrap({ [`${PREFIX}${scheme}`]: value, ...good })).symmetricKey.length, 32);
      }
    });
  }

  it('5 MB of base64 in the options annotation: a coded error', async () => {
    for (const value of [Buffer.alloc(3_750_000, 0x5a).toString('base64'), `${'A'.repeat(5_000_000)}!`]) {
      await assert.rejects(unwrap({ [PUBOPTS]: value, [`${PREFIX}jwe`]: mixed[`${PREFIX}jwe`]! }), (error: unknown) => (assertCoded(error), true));
    }
  });

  it('huge JSON strings in JWE headers (4 MB protected header, 1 MiB epk, 1 MiB kid, deep nesting): that scheme fails, alone', async () => {
    const flattened = JSON.parse(Buffer.from(mixed[`${PREFIX}jwe`]!, 'base64').toString());
    const protectedHeader = (header: object) => Buffer.from(JSON.stringify(header)).toString('base64url');
    const hostile = [
      { ...flattened, protected: protectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', pad: 'p'.repeat(4_000_000) }) },
      { ...flattened, protected: protectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', epk: { kty: 'EC', crv: 'P-256', x: 'x'.repeat(1 << 20), y: 'y' } }) },
      { ...flattened, unprotected: { kid: 'k'.repeat(1 << 20) } },
      { ...flattened, header: 'DEEP' },
      { ...flattened, protected: Buffer.from('['.repeat(1_000_000)).toString('base64url') },
    ].map((jwe) => Buffer.from(JSON.stringify(jwe).replace('"DEEP"', '['.repeat(100_000) + ']'.repeat(100_000))));
    for (const item of hostile) {
      // Opened (a long kid changes nothing) or this scheme's failure: never another exception.
      await jweScheme.unwrap([item], mixedKeys).catch((error: unknown) => assert.ok(error instanceof UnwrapFailure, String(error)));
      assert.ok((await jweScheme.describeRecipients!([item])).toString().length < 300);
      // Through the annotation such an item is over the item limit; the pkcs7 item still opens the layer.
      await onlyCodedErrors(() => unwrap({ [`${PREFIX}jwe`]: item.toString('base64') }));
      assert.equal((await unwrap({ [`${PREFIX}jwe`]: item.toString('base64'), [`${PREFIX}pkcs7`]: mixed[`${PREFIX}pkcs7`]! })).symmetricKey.length, 32);
    }
  });

  it('recipient fan-out across every scheme ends in ERR_WORK_LIMIT', async () => {
    const flattened = JSON.parse(Buffer.from(mixed[`${PREFIX}jwe`]!, 'base64').toString());
    const { header, encrypted_key, ...shared } = flattened;
    const jwe = Buffer.from(JSON.stringify({ ...shared, recipients: Array(64).fill({ header, encrypted_key }) })).toString('base64');
    const pkcs11 = Buffer.from(JSON.stringify({ version: 0, recipients: Array(64).fill({ version: 0, blob: Buffer.alloc(256, 1).toString('base64'), hash: 'sha1' }) })).toString('base64');
    const many = (item: string) => Array(64).fill(item).join(',');
    const wrongKeys = assembleDecryptionKeys([{ path: 'wrong.pem', bytes: fixtureKey('pkcs7', 'wrong-rsa2048.key.pem') }], new Map());
    const annotations = new Map([
      [PUBOPTS, mixed[PUBOPTS]!],
      [`${PREFIX}jwe`, many(jwe)],
      [`${PREFIX}pkcs7`, many(mixed[`${PREFIX}pkcs7`]!)],
      [`${PREFIX}pkcs11`, many(pkcs11)],
    ]);
    await assert.rejects(unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations }, wrongKeys), { code: 'ERR_WORK_LIMIT' });
  });
});

/** How many OBJECT IDENTIFIERs the element holds, at any depth. */
function oidPositions(tlv: Tlv): number {
  if (isUniversal(tlv, UNIVERSAL_TAG.oid)) return 1;
  return tlv.constructed ? childrenOf(tlv).reduce((sum, child) => sum + oidPositions(child), 0) : 0;
}

/** The element re-encoded (definite lengths) with its `position`-th OID, in document order, replaced by `oid`. */
function withOidReplaced(tlv: Tlv, position: number, oid: Buffer): Buffer {
  let seen = 0;
  const rebuild = (element: Tlv): Buffer => {
    if (isUniversal(element, UNIVERSAL_TAG.oid)) return seen++ === position ? oid : element.element;
    if (!element.constructed) return element.element;
    const content = Buffer.concat(childrenOf(element).map(rebuild));
    let tagLength = 1;
    if ((element.element[0]! & 0x1f) === 0x1f) while (element.element[tagLength++]! & 0x80);
    return Buffer.concat([element.element.subarray(0, tagLength), derLength(content.length), content]);
  };
  return rebuild(tlv);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets = Buffer.from(length.toString(16).padStart(length.toString(16).length + (length.toString(16).length % 2), '0'), 'hex');
  return Buffer.concat([Buffer.from([0x80 | octets.length]), octets]);
}

function encodePayloadRaw(json: unknown): Buffer {
  return encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify(json)));
}
