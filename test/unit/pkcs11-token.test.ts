import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { assembleDecryptionKeys, type DecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { pkcs11SchemeWith } from '../../src/keywrap/pkcs11.ts';
import { oaepHashOf } from '../../src/keywrap/pkcs11/oaep.ts';
import { BindingUnavailableError, type Pkcs11Host } from '../../src/keywrap/pkcs11/host.ts';
import { CK, decryptOnToken, TokenKeyFailure, type Pkcs11Binding, type Pkcs11Functions, type TokenKey } from '../../src/keywrap/pkcs11/token.ts';
import { OperationBudget, OperationLimitReached } from '../../src/keywrap/operation-budget.ts';
import { UnwrapFailure } from '../../src/keywrap/scheme.ts';
import { MAX_TOKEN_OPERATIONS_PER_LAYER } from '../../src/limits.ts';
import { withEnvironment } from '../../src/platform/pkcs11-host.ts';

const PIN = 'token-pin-9513';
const OAEP_PARAMS_TYPE = 4;
const { privateKey: TOKEN_KEY, publicKey: TOKEN_PUBLIC } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const { privateKey: SOFT_KEY, publicKey: SOFT_PUBLIC } = generateKeyPairSync('rsa', { modulusLength: 3072 });
const OPTIONS = Buffer.from('{"symkey":"c3ltbWV0cmlj","cipheroptions":{"nonce":"bm9uY2U="}}');

const wrap = (publicKey: KeyObject, hash: 'sha1' | 'sha256') => publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, OPTIONS);
const blob = (...recipients: object[]) => Buffer.from(JSON.stringify({ version: 0, recipients }));
const recipient = (ciphertext: Buffer, hash: string) => ({ version: 0, blob: ciphertext.toString('base64'), hash });
const handle = (n: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(n));
  return bytes;
};
const ckrError = (name: string) => new Error(`${name}:0`);
const pad = (text: string, length: number) => text.padEnd(length, ' ');

interface FakeToken {
  slot: number;
  label: string;
  objects: { label: string; id: Buffer }[];
}

/** A PKCS#11 module in memory whose one key per token is TOKEN_KEY; it records calls and can check the environment. */
function fakeBinding(tokens: FakeToken[], options: { expectEnv?: Record<string, string>; loadError?: string } = {}) {
  const calls: string[] = [];
  const outputLengths: number[] = [];
  let loggedIn = false;
  let found: Buffer[] = [];
  let mechanism: { mechanism: number; parameter: { type: number; hashAlg: number; mgf: number; source: number } } | null = null;
  const tokenOf = (slot: Buffer) => tokens.find((token) => token.slot === Number(slot.readBigUInt64LE(0)))!;
  const functions: Pkcs11Functions = {
    C_Initialize() {
      calls.push('C_Initialize');
      for (const [name, value] of Object.entries(options.expectEnv ?? {})) assert.equal(process.env[name], value);
    },
    C_Finalize: () => void calls.push('C_Finalize'),
    close: () => void calls.push('close'),
    C_GetSlotList: () => tokens.map((token) => handle(token.slot)),
    C_GetTokenInfo: (slot) => ({ label: pad(tokenOf(slot).label, 32), manufacturerID: pad('Fake', 32), model: pad('Fake v1', 16), serialNumber: pad('0001', 16) }),
    C_OpenSession: (slot, flags) => {
      assert.equal(flags, CK.CKF_SERIAL_SESSION);
      return slot;
    },
    C_CloseSession: () => void calls.push('C_CloseSession'),
    C_Login: (_session, userType, pin) => {
      assert.equal(userType, CK.CKU_USER);
      if (pin !== PIN) throw ckrError('CKR_PIN_INCORRECT');
      loggedIn = true;
    },
    C_Logout: () => {
      loggedIn = false;
    },
    C_FindObjectsInit: (session, template) => {
      assert.ok(loggedIn);
      const wanted = new Map(template.map((attribute) => [attribute.type, attribute.value]));
      assert.equal(wanted.get(CK.CKA_CLASS), CK.CKO_PRIVATE_KEY);
      const label = wanted.get(CK.CKA_LABEL) as Buffer | undefined;
      const id = wanted.get(CK.CKA_ID) as Buffer | undefined;
      found = tokenOf(session)
        .objects.filter((object) => (label === undefined || label.equals(Buffer.from(object.label))) && (id === undefined || id.equals(object.id)))
        .map((_, index) => handle(100 + index));
    },
    C_FindObjects: () => found,
    C_FindObjectsFinal: () => {},
    C_GetAttributeValue: (_session, _object, template) => {
      assert.deepEqual(template, [{ type: CK.CKA_MODULUS }]);
      return [{ type: CK.CKA_MODULUS, value: Buffer.from(TOKEN_KEY.export({ format: 'jwk' }).n!, 'base64url') }];
    },
    C_DecryptInit: (_session, requested) => {
      mechanism = requested;
    },
    C_Decrypt: (_session, input, output) => {
      outputLengths.push(output.length);
      // Like SoftHSM2: the output must hold a modulus-sized block, whatever the input's length.
      if (output.length < 256) throw ckrError('CKR_BUFFER_TOO_SMALL');
      if (input.length !== 256) throw ckrError('CKR_ENCRYPTED_DATA_LEN_RANGE');
      const { parameter } = mechanism!;
      assert.equal(mechanism!.mechanism, CK.CKM_RSA_PKCS_OAEP);
      assert.deepEqual([parameter.type, parameter.source], [OAEP_PARAMS_TYPE, CK.CKZ_DATA_SPECIFIED]);
      const hash = parameter.hashAlg === oaepHashOf('sha1')!.pkcs11Hash ? 'sha1' : 'sha256';
      if (hash === 'sha256') throw ckrError('CKR_ARGUMENTS_BAD'); // SoftHSM2 does OAEP with SHA-1 only
      let plaintext: Buffer;
      try {
        plaintext = privateDecrypt({ key: TOKEN_KEY, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, input);
      } catch {
        throw ckrError('CKR_ENCRYPTED_DATA_INVALID');
      }
      return plaintext.copy(output);
    },
  };
  const binding: Pkcs11Binding = {
    rsaOaepParamsType: OAEP_PARAMS_TYPE,
    loadModule(path) {
      calls.push(`load ${path}`);
      if (options.loadError) throw new Error(options.loadError);
      return functions;
    },
  };
  return { binding, calls, outputLengths };
}

const TOKENS: FakeToken[] = [
  { slot: 7, label: 'other', objects: [{ label: 'k', id: Buffer.from([1]) }] },
  { slot: 9, label: 'hsm', objects: [{ label: 'k', id: Buffer.from([1]) }, { label: 'twin', id: Buffer.from([2]) }, { label: 'twin', id: Buffer.from([3]) }] },
];
const tokenKey = (changes: Partial<TokenKey> = {}): TokenKey => ({
  modulePath: '/usr/lib/fake.so',
  token: { label: 'hsm', manufacturer: null, model: null, serial: null, slotId: null },
  objectLabel: 'k',
  objectId: null,
  pin: PIN,
  ...changes,
});
const sha1Recipient = () => ({ name: 'item 0 recipient 0', ciphertext: wrap(TOKEN_PUBLIC, 'sha1'), hash: oaepHashOf('sha1')! });

describe('decryption on a token (fake module)', () => {
  it('decrypts and always finalises and unloads the module', () => {
    const { binding, calls } = fakeBinding(TOKENS);
    assert.deepEqual(decryptOnToken(binding, tokenKey(), [sha1Recipient()]), OPTIONS);
    assert.deepEqual(calls.filter((call) => !call.startsWith('C_CloseSession')), ['load /usr/lib/fake.so', 'C_Initialize', 'C_Finalize', 'close']);
  });

  it('tries every recipient: a SHA-256 one the token refuses, then the SHA-1 one', () => {
    const { binding } = fakeBinding(TOKENS);
    const sha256 = { name: 'item 0 recipient 0', ciphertext: wrap(TOKEN_PUBLIC, 'sha256'), hash: oaepHashOf('sha256')! };
    assert.deepEqual(decryptOnToken(binding, tokenKey(), [sha256, sha1Recipient()]), OPTIONS);
  });

  it('selects the token by slot-id, manufacturer, model and serial as well as by label', () => {
    const { binding } = fakeBinding(TOKENS);
    const token = { label: null, manufacturer: 'Fake', model: 'Fake v1', serial: '0001', slotId: 9 };
    assert.deepEqual(decryptOnToken(binding, tokenKey({ token, objectLabel: null, objectId: Buffer.from([1]) }), [sha1Recipient()]), OPTIONS);
  });

  for (const [what, changes, message] of [
    ['wrong PIN', { pin: 'wrong' }, /^wrong PIN for token "hsm" \(CKR_PIN_INCORRECT\)$/],
    ['token absent', { token: { label: 'gone', manufacturer: null, model: null, serial: null, slotId: null } }, /^token absent: no token labelled "gone" matches the URI \(tokens present: "other", "hsm"\)$/],
    ['no token with that slot-id', { token: { label: null, manufacturer: null, model: null, serial: null, slotId: 3 } }, /^token absent: no token in slot-id 3 matches/],
    ['object not found', { objectLabel: 'missing' }, /^object not found: no private key object="missing" on token "hsm"$/],
    ['two objects match', { objectLabel: 'twin' }, /^2 private keys on token "hsm" match private key object="twin": name one with object= and id=$/],
    ['no token named', { token: { label: null, manufacturer: 'Fake', model: null, serial: null, slotId: null } }, /names neither a token nor a slot-id/],
    ['no object named', { objectLabel: null }, /names neither an object nor an id/],
  ] as const) {
    it(`${what}: says so`, () => {
      const { binding } = fakeBinding(TOKENS);
      assert.throws(() => decryptOnToken(binding, tokenKey(changes), [sha1Recipient()]), (error: unknown) => error instanceof TokenKeyFailure && message.test(error.message));
    });
  }

  it('decryption failed: names the key and the token, and one fixed reason whatever the token answered (issue 12: no padding oracle)', () => {
    const { binding, calls, outputLengths } = fakeBinding(TOKENS);
    const foreign = { name: 'item 0 recipient 0', ciphertext: wrap(SOFT_PUBLIC, 'sha1'), hash: oaepHashOf('sha1')! };
    const short = { ...foreign, ciphertext: foreign.ciphertext.subarray(0, 10) };
    const corrupt = { ...sha1Recipient() };
    corrupt.ciphertext[5]! ^= 1;
    const expected = { message: /^decryption failed: private key object="k" on token "hsm" opens none of the 1 recipient\(s\) \(the token refused every ciphertext\)$/ };
    // The module answers CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE and (before the fix) CKR_BUFFER_TOO_SMALL here.
    for (const recipient of [foreign, short, corrupt]) assert.throws(() => decryptOnToken(binding, tokenKey(), [recipient]), expected);
    assert.deepEqual(outputLengths, [256, 256, 256], 'the output buffer is the modulus, not the ciphertext, long');
    assert.deepEqual(calls.slice(-2), ['C_Finalize', 'close']);
  });

  it(`stops after ${MAX_TOKEN_OPERATIONS_PER_LAYER} C_Decrypt calls per layer (issue 12: 64 x 64 recipients made 4,096)`, () => {
    const { binding, outputLengths } = fakeBinding(TOKENS);
    const foreign = { name: 'item 0 recipient 0', ciphertext: wrap(SOFT_PUBLIC, 'sha1'), hash: oaepHashOf('sha1')! };
    const budget = new OperationBudget();
    assert.throws(() => decryptOnToken(binding, tokenKey(), Array(64).fill(foreign), budget), OperationLimitReached);
    assert.equal(outputLengths.length, MAX_TOKEN_OPERATIONS_PER_LAYER);
    assert.equal(budget.spent, MAX_TOKEN_OPERATIONS_PER_LAYER);
  });

  it('a module that cannot be loaded', () => {
    const { binding } = fakeBinding(TOKENS, { loadError: '/usr/lib/fake.so: cannot open shared object file' });
    assert.throws(() => decryptOnToken(binding, tokenKey(), [sha1Recipient()]), {
      message: /^cannot load module "\/usr\/lib\/fake\.so" \(\/usr\/lib\/fake\.so: cannot open shared object file\)$/,
    });
  });
});

describe('pkcs11 scheme', () => {
  const KEY_FILE = Buffer.from(`pkcs11:\n  uri: pkcs11:token=hsm;object=k?module-name=fake&pin-value=${PIN}\nmodule:\n  env:\n    FAKE_CONF: /etc/fake.conf\n`);
  const host = (binding: () => Pkcs11Binding, config = 'pkcs11:\n  module-directories: [/usr/lib/]\n  allowed-module-paths: [/usr/lib/]\n'): Pkcs11Host => ({
    localConfig: () => ({ kind: 'file', path: '/etc/ocicrypt.conf', text: config }),
    arch: 'x64',
    moduleFiles: { kind: () => 'file', list: (directory) => (directory === '/usr/lib/' ? ['libfake.so'] : null) },
    readPinFile: () => Buffer.from(`${PIN}\n`),
    binding,
    withEnvironment,
  });
  const keys = (changes: Partial<DecryptionKeys>): DecryptionKeys => ({ ...assembleDecryptionKeys([], new Map()), ...changes });
  const yaml = (bytes: Buffer) => ({ origin: '/keys/hsm.yaml', bytes, password: null });
  const softKey = { origin: '/keys/soft.pem', key: SOFT_KEY, description: 'RSA 3072' };
  const noBinding = () => {
    throw new BindingUnavailableError('not in this test');
  };

  it('opens a token recipient through the key file, with the module env set during the call only', async () => {
    const { binding } = fakeBinding(TOKENS, { expectEnv: { FAKE_CONF: '/etc/fake.conf' } });
    const scheme = pkcs11SchemeWith(host(() => binding));
    const items = [blob(recipient(wrap(TOKEN_PUBLIC, 'sha1'), 'sha1'))];
    assert.deepEqual(await scheme.unwrap(items, keys({ pkcs11Yamls: [yaml(KEY_FILE)] })), OPTIONS);
    assert.equal(process.env['FAKE_CONF'], undefined);
  });

  it('a plain RSA key opens a SHA-256 recipient (and "" means SHA-1) without loading the binding', async () => {
    const scheme = pkcs11SchemeWith(host(noBinding));
    const withKey = keys({ privateKeys: [softKey], pkcs11Yamls: [yaml(KEY_FILE)] });
    assert.deepEqual(await scheme.unwrap([blob(recipient(wrap(TOKEN_PUBLIC, 'sha1'), 'sha1'), recipient(wrap(SOFT_PUBLIC, 'sha256'), 'sha256'))], withKey), OPTIONS);
    assert.deepEqual(await scheme.unwrap([blob(recipient(wrap(SOFT_PUBLIC, 'sha1'), ''))], withKey), OPTIONS);
  });

  it('names the unavailable binding, per key file, after the RSA keys failed', async () => {
    const scheme = pkcs11SchemeWith(host(noBinding));
    await assert.rejects(
      scheme.unwrap([blob(recipient(wrap(TOKEN_PUBLIC, 'sha1'), 'sha1'))], keys({ privateKeys: [softKey], pkcs11Yamls: [yaml(KEY_FILE)] })),
      (error: unknown) =>
        error instanceof UnwrapFailure &&
        error.message ===
          'no key fits (1 RSA private key(s) open none of the 1 recipient(s); /keys/hsm.yaml: PKCS#11 binding unavailable: not in this test)',
    );
  });

  it('reports blob and recipient versions, hashes and a bad key file, and never the PIN', async () => {
    const scheme = pkcs11SchemeWith(host(noBinding));
    const items = [
      Buffer.from(JSON.stringify({ version: 1, recipients: [] })),
      blob({ version: 2, blob: 'AAAA' }, recipient(Buffer.from('x'), 'sha512'), { version: 0, blob: '' }),
      Buffer.from('not json'),
    ];
    await assert.rejects(scheme.unwrap(items, keys({ pkcs11Yamls: [yaml(KEY_FILE)] })), {
      message:
        'no usable recipient (item 0 has blob version 1, only 0 is supported; item 1 recipient 0 has version 2, only 0 is supported; ' +
        'item 1 recipient 1 uses an unsupported OAEP hash ("sha512"); item 1 recipient 2 has no base64 ciphertext; item 2 is not a PKCS#11 blob (not a JSON object))',
      kind: 'malformed-items',
    });
    const badFile = Buffer.from(`pkcs11:\n  uri: pkcs11:token=hsm;object=k?pin-value=${PIN}&pin-value=${PIN}\n`);
    await assert.rejects(scheme.unwrap([blob(recipient(wrap(TOKEN_PUBLIC, 'sha1'), 'sha1'))], keys({ pkcs11Yamls: [yaml(badFile)] })), (error: Error) => {
      assert.match(error.message, /\/keys\/hsm\.yaml: not a usable PKCS#11 key file: bad pkcs11\.uri: duplicate query attribute pin-value/);
      assert.ok(!error.message.includes(PIN));
      return true;
    });
  });

  it('a PIN typed after the wrong separator is in no message and no description', async () => {
    const scheme = pkcs11SchemeWith(host(noBinding));
    const typo = Buffer.from(`pkcs11:\n  uri: pkcs11:token=hsm;object=k?module-name=fake;pin-value=${PIN}\n`);
    await assert.rejects(scheme.unwrap([blob(recipient(wrap(TOKEN_PUBLIC, 'sha1'), 'sha1'))], keys({ pkcs11Yamls: [yaml(typo)] })), (error: Error) => {
      assert.match(error.message, /\/keys\/hsm\.yaml: not a usable PKCS#11 key file: bad pkcs11\.uri: attribute module-name contains a pin attribute/);
      assert.ok(!error.message.includes(PIN));
      return true;
    });
    const described = await scheme.describeKeyMaterial!(yaml(typo));
    assert.ok(!described.join('\n').includes(PIN), described.join('\n'));
  });

  it('missing keys: needs a key file or an RSA private key', () => {
    const scheme = pkcs11SchemeWith(host(noBinding));
    assert.deepEqual(scheme.checkKeys(keys({})), { canTry: false, missing: 'no PKCS#11 key file supplied' });
    assert.deepEqual(scheme.checkKeys(keys({ pkcs11Yamls: [yaml(KEY_FILE)] })), { canTry: true });
    assert.deepEqual(scheme.checkKeys(keys({ privateKeys: [softKey] })), { canTry: true });
  });

  it('describes recipients and key files without the PIN', async () => {
    const scheme = pkcs11SchemeWith(host(noBinding));
    assert.deepEqual(scheme.describeRecipients!([blob(recipient(Buffer.from('x'), 'sha1'), recipient(Buffer.from('y'), ''), recipient(Buffer.from('z'), 'sha256'))]), [
      'item 0 recipient 0: RSA-OAEP SHA-1',
      'item 0 recipient 1: RSA-OAEP SHA-1',
      'item 0 recipient 2: RSA-OAEP SHA-256',
    ]);
    assert.deepEqual(await scheme.describeKeyMaterial!(yaml(KEY_FILE)), [
      'pkcs11:token=hsm;object=k?module-name=fake&pin-value=(redacted) (module env: FAKE_CONF)',
    ]);
  });
});

const ADDON = 'pkcs11js/build/Release/pkcs11.node';
const addonPath = (() => {
  try {
    return createRequire(import.meta.url).resolve(ADDON);
  } catch {
    return null;
  }
})();

describe('the pkcs11js addon', { skip: addonPath !== null && existsSync(addonPath) ? false : `${ADDON} is not built (make builds it)` }, () => {
  it('agrees with our PKCS#11 constants and loads in this Node (N-API)', () => {
    const module = { exports: {} as Record<string, unknown> };
    process.dlopen(module, addonPath!);
    for (const [name, value] of Object.entries(CK)) {
      if (name in module.exports) assert.equal(module.exports[name], value, name);
    }
    assert.equal(module.exports['CKM_SHA_1'], oaepHashOf('sha1')!.pkcs11Hash);
    assert.equal(module.exports['CKM_SHA256'], oaepHashOf('sha256')!.pkcs11Hash);
    assert.equal(module.exports['CKG_MGF1_SHA1'], oaepHashOf('sha1')!.pkcs11Mgf);
    assert.equal(module.exports['CKG_MGF1_SHA256'], oaepHashOf('sha256')!.pkcs11Mgf);
    assert.equal(typeof module.exports['PKCS11'], 'function');
  });
});
