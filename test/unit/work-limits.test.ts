/**
 * The work an image can cause is bounded: one budget of private-key
 * operations per layer, shared by every scheme, with lower limits for token
 * and key-provider calls; and whatever goes wrong inside one scheme is that
 * scheme's failure, so another can still open the layer (issue 12).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parsePublicOptions } from '../../src/blockcipher/options.ts';
import { decodeAnnotation, unwrapFromSchemes, unwrapLayerKey } from '../../src/decode/unwrap-layer-key.ts';
import { PUBLIC_OPTIONS_ANNOTATION } from '../../src/keywrap/annotations.ts';
import { WorkLimitError } from '../../src/errors.ts';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { OperationBudget, OperationLimitReached } from '../../src/keywrap/operation-budget.ts';
import { jweScheme } from '../../src/keywrap/jwe.ts';
import { CAN_TRY } from '../../src/keywrap/scheme.ts';
import { wrappedKeysOf } from '../../src/decode/scheme-registry.ts';
import { MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER, MAX_PROVIDER_CALLS_PER_LAYER, MAX_TOKEN_OPERATIONS_PER_LAYER, MAX_WRAPPED_ITEMS } from '../../src/limits.ts';
import { FIXTURES, fixtureKey, loadLayerCase } from '../support/fixtures.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const PREFIX = 'org.opencontainers.image.enc.keys.';
const layer = loadLayerCase('jwe', 'rsa2048-gzip');
const pubopts = layer.descriptor.annotations[PUBLIC_OPTIONS_ANNOTATION]!;
const wrongKeys = assembleDecryptionKeys([{ path: 'wrong.pem', bytes: fixtureKey('jwe', 'wrong-rsa2048.pkcs8.pem') }], new Map());

/** A general JWE of `count` real RSA-OAEP recipients (for the fixture key, so a wrong key costs a real decryption each). */
function jweFanOut(count: number): string {
  const flattened = JSON.parse(Buffer.from(layer.descriptor.annotations[`${PREFIX}jwe`]!, 'base64').toString());
  const { header, encrypted_key, ...shared } = flattened;
  return Buffer.from(JSON.stringify({ ...shared, recipients: Array.from({ length: count }, () => ({ header, encrypted_key })) })).toString('base64');
}

/** A PKCS#11 blob of `count` RSA-OAEP recipients of the right size for an RSA-2048 key. */
function pkcs11FanOut(count: number): string {
  const recipient = { version: 0, blob: Buffer.alloc(256, 0x42).toString('base64'), hash: 'sha1' };
  return Buffer.from(JSON.stringify({ version: 0, recipients: Array(count).fill(recipient) })).toString('base64');
}

const items = (count: number, item: string) => Array(count).fill(item).join(',');

async function failureOf(annotations: Record<string, string>, keys = wrongKeys): Promise<Error> {
  const descriptor = { mediaType: '', digest: '', size: 0, annotations: new Map(Object.entries({ ...annotations, [PUBLIC_OPTIONS_ANNOTATION]: pubopts })) };
  return unwrapLayerKey(descriptor, keys).then(
    () => assert.fail('unwrapped'),
    (error: Error) => error,
  );
}

describe('the per-layer budget', () => {
  it('counts every kind in the total, and token and provider calls against their own lower limits', () => {
    const budget = new OperationBudget();
    for (let i = 0; i < MAX_TOKEN_OPERATIONS_PER_LAYER; i++) budget.spend('token');
    assert.throws(() => budget.spend('token'), { message: `stopped at the limit of ${MAX_TOKEN_OPERATIONS_PER_LAYER} PKCS#11 token operations per layer` });
    for (let i = 0; i < MAX_PROVIDER_CALLS_PER_LAYER; i++) budget.spend('provider');
    assert.throws(() => budget.spend('provider'), OperationLimitReached);
    while (budget.spent < MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER) budget.spend('private-key');
    assert.throws(() => budget.spend('private-key'), { message: `stopped at the limit of ${MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER} private-key operations per layer` });
  });

  it(`JWE: ${MAX_WRAPPED_ITEMS} items x 64 recipients stop after ${MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER} operations with ERR_WORK_LIMIT (was 4096 and ERR_NO_MATCHING_KEY)`, async () => {
    const error = await failureOf({ [`${PREFIX}jwe`]: items(MAX_WRAPPED_ITEMS, jweFanOut(64)) });
    assert.ok(error instanceof WorkLimitError, String(error));
    assert.equal(error.code, 'ERR_WORK_LIMIT');
    assert.match(error.message, new RegExp(`^unwrapping this layer needs more work than allowed \\(jwe: stopped at the limit of ${MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER} private-key operations per layer\\)$`));
    assert.match(error.hint ?? '', /no real image needs this much/);
  });

  it('the budget is shared: JWE spends part, PKCS#11 reaches the limit', async () => {
    const error = await failureOf({ [`${PREFIX}jwe`]: items(6, jweFanOut(64)), [`${PREFIX}pkcs11`]: items(4, pkcs11FanOut(64)) });
    assert.ok(error instanceof WorkLimitError, String(error));
    assert.match(error.message, /\(pkcs11: stopped at the limit of \d+ private-key operations per layer; jwe: no private key fits/);
  });

  it(`key providers: at most ${MAX_PROVIDER_CALLS_PER_LAYER} calls per layer, counted by the provider itself`, async () => {
    const dir = temporaryDirectory('ctd-decoder-provider-calls-');
    const calls = join(dir, 'calls');
    writeFileSync(calls, '');
    const provider = join(dir, 'refusing-provider');
    writeFileSync(provider, `#!/bin/sh\ncat >/dev/null\necho call >>'${calls}'\necho 'not this item' >&2\nexit 1\n`);
    chmodSync(provider, 0o755);
    const config = join(dir, 'ocicrypt-keyprovider.conf');
    writeFileSync(config, JSON.stringify({ 'key-providers': { counting: { cmd: { path: provider, args: [] } } } }));
    process.env['OCICRYPT_KEYPROVIDER_CONFIG'] = config;
    try {
      const error = await failureOf({ [`${PREFIX}provider.counting`]: items(MAX_WRAPPED_ITEMS, Buffer.from('wrapped').toString('base64')) });
      assert.ok(error instanceof WorkLimitError, String(error));
      assert.match(error.message, new RegExp(`provider\\.counting: stopped at the limit of ${MAX_PROVIDER_CALLS_PER_LAYER} key-provider calls per layer`));
      assert.equal(readFileSync(calls, 'utf8').split('\n').filter(Boolean).length, MAX_PROVIDER_CALLS_PER_LAYER);
    } finally {
      delete process.env['OCICRYPT_KEYPROVIDER_CONFIG'];
    }
  });
});

describe('a failing scheme is only that scheme\'s failure', () => {
  const rightKeys = assembleDecryptionKeys([{ path: 'k.pem', bytes: fixtureKey('jwe', 'rsa2048.pkcs8.pem') }], new Map());

  it('an unforeseen exception (RangeError) inside one scheme lets the next open the layer', async () => {
    const annotations = new Map(Object.entries(layer.descriptor.annotations));
    const { wrapped } = wrappedKeysOf(annotations);
    const overflowing = {
      scheme: 'overflowing',
      value: 'AAAA',
      load: async () => ({
        name: 'overflowing',
        checkKeys: () => CAN_TRY,
        unwrap: async (): Promise<Buffer> => {
          throw new RangeError('Maximum call stack size exceeded');
        },
      }),
    };
    const publicOptions = parsePublicOptions(decodeAnnotation({ mediaType: '', digest: '', size: 0, annotations }, PUBLIC_OPTIONS_ANNOTATION));
    const options = await unwrapFromSchemes([overflowing, ...wrapped], publicOptions, rightKeys);
    assert.equal(options.symmetricKey.length, 32);
    await assert.rejects(unwrapFromSchemes([overflowing], publicOptions, rightKeys), {
      code: 'ERR_BAD_ANNOTATION',
      message: /\(overflowing: failed on this input \(RangeError: Maximum call stack size exceeded\)\)/,
    });
  });

  it('3.6 MB of junk in the pkcs7 annotation no longer hides a good pgp item (was ERR_INTERNAL)', async () => {
    const mixed = loadLayerCase('pgp', 'mixed-jwe-pgp').descriptor.annotations;
    const annotations = new Map([
      [`${PREFIX}pkcs7`, Buffer.alloc(2_700_000, 0x30).toString('base64')],
      [`${PREFIX}pgp`, mixed[`${PREFIX}pgp`]!],
      [PUBLIC_OPTIONS_ANNOTATION, mixed[PUBLIC_OPTIONS_ANNOTATION]!],
    ]);
    const keys = assembleDecryptionKeys(
      [
        { path: 'alice.sec.gpg', bytes: fixtureKey('pgp', 'alice.sec.gpg') },
        { path: 'k.pem', bytes: fixtureKey('jwe', 'rsa2048.pkcs8.pem') },
      ],
      new Map(),
    );
    const options = await unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations }, keys);
    assert.equal(options.symmetricKey.length, 32);
  });
});

describe('property: a failing scheme never prevents another scheme from opening the layer', () => {
  const mixed = loadLayerCase('pgp', 'mixed-jwe-pgp').descriptor.annotations;
  const keys = assembleDecryptionKeys(
    [
      ['pgp', 'jwe-rsa2048.pkcs8.pem'],
      ['pgp', 'alice.sec.gpg'],
      ['pkcs7', 'rsa2048.key.pem'],
      ['pkcs7', 'rsa2048.cert.pem'],
    ].map(([scheme, name]) => ({ path: name!, bytes: fixtureKey(scheme!, name!) })),
    new Map(),
  );

  it('for every scheme that holds the layer key, whatever the others hold', async () => {
    // The one layer key, wrapped again for pkcs11 (ocicrypt's OAEP blob) and pkcs7 (openssl cms, a real encryptor).
    const privateOptions = await jweScheme.unwrap([Buffer.from(mixed[`${PREFIX}jwe`]!, 'base64')], keys);
    const publicKey = createPublicKey(fixtureKey('pgp', 'jwe-rsa2048.pkcs8.pem'));
    const oaep = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, privateOptions);
    const dir = temporaryDirectory('ctd-decoder-cms-');
    writeFileSync(join(dir, 'options.json'), privateOptions);
    const cms = execFileSync('openssl', ['cms', '-encrypt', '-binary', '-aes-256-cbc', '-in', join(dir, 'options.json'), '-outform', 'DER', join(FIXTURES, 'pkcs7', 'keys', 'rsa2048.cert.pem')]);
    const good: Record<string, string> = {
      jwe: mixed[`${PREFIX}jwe`]!,
      pgp: mixed[`${PREFIX}pgp`]!,
      pkcs11: Buffer.from(JSON.stringify({ version: 0, recipients: [{ version: 0, blob: oaep.toString('base64'), hash: 'sha1' }] })).toString('base64'),
      pkcs7: cms.toString('base64'),
    };
    const expected = (await unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations: new Map(Object.entries(mixed)) }, keys)).symmetricKey;

    const longOid = Buffer.concat([Buffer.from([0x30, 0x83, 0x01, 0x86, 0xa4, 0x06, 0x83, 0x01, 0x86, 0xa0, 0x2a]), Buffer.alloc(99_998, 0x81), Buffer.from([0x01])]);
    const failing = fc.oneof(
      fc.string({ maxLength: 100 }),
      fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((bytes) => Buffer.from(bytes).toString('base64')),
      fc.constant(Buffer.alloc(300_000, 0x7b).toString('base64')),
      fc.constant(items(MAX_WRAPPED_ITEMS + 1, 'AAAA')),
      fc.constant(longOid.toString('base64')),
      fc.constant(Buffer.from(JSON.stringify({ protected: 'e'.repeat(200_000), ciphertext: 'AA', iv: 'AA', tag: 'AA' })).toString('base64')),
      fc.constant(jweFanOut(8)),
      fc.constant(pkcs11FanOut(8)),
      fc.constantFrom(...Object.values(good)).map((item) => {
        const bytes = Buffer.from(item, 'base64');
        bytes[bytes.length >> 1]! ^= 0x55;
        return bytes.toString('base64');
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(good)),
        fc.record({ jwe: fc.option(failing), pgp: fc.option(failing), pkcs7: fc.option(failing), pkcs11: fc.option(failing) }),
        async (opener, others) => {
          const annotations = new Map([[PUBLIC_OPTIONS_ANNOTATION, mixed[PUBLIC_OPTIONS_ANNOTATION]!]]);
          for (const [scheme, value] of Object.entries(others)) if (value !== null && scheme !== opener) annotations.set(`${PREFIX}${scheme}`, value);
          annotations.set(`${PREFIX}${opener}`, good[opener]!);
          const options = await unwrapLayerKey({ mediaType: '', digest: '', size: 0, annotations }, keys);
          assert.deepEqual(options.symmetricKey, expected);
        },
      ),
      { numRuns: Number(process.env['HOSTILE_RUNS'] ?? 1000) >= 1000 ? 60 : 20 },
    );
  });
});
