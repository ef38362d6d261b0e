import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execFileSync, spawnSync } from 'node:child_process';
import { classifyKeyFile } from '../../src/keys/classify.ts';
import { assembleDecryptionKeys, pairPasswordFiles } from '../../src/keys/decryption-keys.ts';
import { readKeysDirectory } from '../../src/platform/keys-directory.ts';
import { fixtureKey } from '../support/fixtures.ts';
import { temporaryDirectory } from '../support/temporary.ts';
import { REPO_ROOT } from '../support/paths.ts';

const password = fixtureKey('jwe', 'rsa2048.password').toString().trim();

describe('key classification', () => {
  for (const [file, description] of [
    ['rsa2048.pkcs8.pem', 'RSA 2048'],
    ['rsa2048.pkcs8.der', 'RSA 2048'],
    ['rsa2048.pkcs1.pem', 'RSA 2048'],
    ['rsa2048.pkcs1.der', 'RSA 2048'],
    ['rsa2048.jwk.json', 'RSA 2048'],
    ['rsa4096.pkcs1.pem', 'RSA 4096'],
    ['ec256.sec1.pem', 'EC P-256'],
    ['ec256.sec1.der', 'EC P-256'],
    ['ec256.pkcs8.der', 'EC P-256'],
    ['ec256.jwk.json', 'EC P-256'],
    ['ec384.sec1.pem', 'EC P-384'],
    ['ec521.pkcs8.pem', 'EC P-521'],
  ] as const) {
    it(`${file} is a private key (${description})`, () => {
      const kind = classifyKeyFile(fixtureKey('jwe', file), null);
      assert.equal(kind.kind, 'private-key');
      assert.equal(kind.kind === 'private-key' && kind.description, description);
    });
  }

  for (const file of ['rsa2048.pkcs8-encrypted.pem', 'rsa2048.dekinfo.pem']) {
    it(`${file} opens with its password, and asks for one without`, () => {
      assert.equal(classifyKeyFile(fixtureKey('jwe', file), Buffer.from(password)).kind, 'private-key');
      const without = classifyKeyFile(fixtureKey('jwe', file), null);
      assert.deepEqual([without.kind, without.kind === 'unusable' && without.needsPassword], ['unusable', true]);
      const wrong = classifyKeyFile(fixtureKey('jwe', file), Buffer.from('wrong'));
      assert.match(wrong.kind === 'unusable' ? wrong.reason : '', /wrong password/);
    });
  }

  it('encrypted DER PKCS#8 opens with its password, asks for one without and names a wrong one', () => {
    const der = execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-outform', 'DER', '-passout', 'pass:pw'], {
      input: fixtureKey('jwe', 'rsa2048.pkcs8.pem'),
    });
    assert.equal(classifyKeyFile(der, Buffer.from('pw')).kind, 'private-key');
    assert.deepEqual(classifyKeyFile(der, null), { kind: 'unusable', reason: 'password-protected key and no password given', needsPassword: true });
    assert.deepEqual(classifyKeyFile(der, Buffer.from('wrong')), { kind: 'unusable', reason: 'wrong password for the encrypted key' });
    // DER that is no key stays "not a private key" with a password too: only encrypted PKCS#8 can have a wrong one.
    assert.deepEqual(classifyKeyFile(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), Buffer.from('pw')), { kind: 'unusable', reason: 'not a private key' });
  });

  it('certificates, public keys and text are recognised for what they are', () => {
    assert.equal(classifyKeyFile(fixtureKey('jwe', 'rsa2048.cert.pem'), null).kind, 'certificate');
    const der = execFileSync('openssl', ['x509', '-outform', 'DER'], { input: fixtureKey('jwe', 'rsa2048.cert.pem') });
    assert.equal(classifyKeyFile(der, null).kind, 'certificate');
    assert.deepEqual(classifyKeyFile(fixtureKey('jwe', 'rsa2048.pub.pem'), null), { kind: 'unusable', reason: 'public key, not a private key' });
    assert.equal(classifyKeyFile(Buffer.from('hello\n'), null).kind, 'unusable');
    assert.deepEqual(classifyKeyFile(Buffer.from('{"kty":"EC","crv":"P-256","x":"a","y":"b"}'), null), { kind: 'unusable', reason: 'public JWK, not a private key' });
  });

  it('OpenPGP and PKCS#11 files are sniffed without parsing them', () => {
    assert.deepEqual(classifyKeyFile(Buffer.from([0x95, 0x01, 0x00]), null), { kind: 'gpg-secret-keys', armored: false });
    assert.deepEqual(classifyKeyFile(Buffer.from([0xc5, 0x01, 0x00]), null), { kind: 'gpg-secret-keys', armored: false });
    assert.equal(classifyKeyFile(Buffer.from('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nx\n'), null).kind, 'gpg-secret-keys');
    assert.equal(classifyKeyFile(Buffer.from([0x99, 0x01, 0x00]), null).kind, 'unusable');
    const yaml = 'pkcs11:\n  uri: pkcs11:token=t;object=k?module-name=softhsm2\nmodule:\n  env:\n    A: b\n';
    assert.deepEqual(classifyKeyFile(Buffer.from(yaml), null), { kind: 'pkcs11-yaml' });
  });

  it("a PKCS#11 key file is whatever the scheme's reader accepts, in any YAML style", () => {
    for (const yaml of [
      'pkcs11: {uri: "pkcs11:token=t;object=k?module-name=softhsm2"}\n',
      '"pkcs11":\n  "uri": pkcs11:token=t;object=k\n',
      "---\n# made by hand\n'pkcs11':\n    uri: 'pkcs11:token=t;object=k'\n",
    ]) {
      assert.deepEqual(classifyKeyFile(Buffer.from(yaml), null), { kind: 'pkcs11-yaml' }, yaml);
    }
    // Meant as a key file but unusable: the reader's reason, never the PIN.
    const typo = Buffer.from('pkcs11:\n  uri: pkcs11:token=t?module-name=softhsm2;pin-value=s3cret\n');
    const unusable = classifyKeyFile(typo, null);
    assert.equal(unusable.kind, 'unusable');
    assert.match(unusable.kind === 'unusable' ? unusable.reason : '', /^not a usable PKCS#11 key file: bad pkcs11\.uri: attribute module-name contains a pin attribute/);
    assert.ok(!JSON.stringify(unusable).includes('s3cret'));
    // Text that merely mentions pkcs11 is judged as any other file.
    assert.deepEqual(classifyKeyFile(Buffer.from('notes: about pkcs11\n'), null), { kind: 'unusable', reason: 'not a private key' });
    const pem = fixtureKey('jwe', 'rsa2048.pkcs8.pem').toString().replace('-----BEGIN', 'pkcs11 key escrow\n-----BEGIN');
    assert.equal(classifyKeyFile(Buffer.from(pem), null).kind, 'private-key');
  });
});

describe('assembling keys', () => {
  it('pairs each NAME.password with NAME, in the order given (the one pairing decode and inventory share)', () => {
    const files = ['k/a.pem', 'k/a.pem.password', 'k/b.password', 'k/c.pem', 'k/c.pem.password.password'].map((path) => ({ path }));
    assert.deepEqual(
      pairPasswordFiles(files).map((paired) => [paired.file.path, paired.role, paired.role === 'key' ? paired.passwordFile?.path ?? null : paired.role === 'password' ? paired.keyPath : null]),
      [
        ['k/a.pem', 'key', 'k/a.pem.password'],
        ['k/a.pem.password', 'password', 'k/a.pem'],
        ['k/b.password', 'orphan-password', null],
        ['k/c.pem', 'key', null],
        ['k/c.pem.password.password', 'orphan-password', null],
      ],
    );
  });

  it('pairs NAME.password files with their key and reports orphans', () => {
    const keys = assembleDecryptionKeys(
      [
        { path: 'k/enc.pem', bytes: fixtureKey('jwe', 'rsa2048.pkcs8-encrypted.pem') },
        { path: 'k/enc.pem.password', bytes: Buffer.from(password + '\r\n') },
        { path: 'k/lost.password', bytes: Buffer.from('x') },
      ],
      new Map(),
    );
    assert.deepEqual(keys.privateKeys.map((k) => k.origin), ['k/enc.pem']);
    assert.deepEqual(keys.unusable, [{ origin: 'k/lost.password', reason: 'password file without its key file' }]);
  });

  it('puts keys directory files first and payload entries after, with their passwords', () => {
    const keys = assembleDecryptionKeys(
      [{ path: 'dir/a.pem', bytes: fixtureKey('jwe', 'ec256.pkcs8.pem') }],
      new Map([
        ['privkeys', [fixtureKey('jwe', 'rsa2048.dekinfo.pem'), null, Buffer.from('junk')]],
        ['privkeys-passwords', [Buffer.from(password)]],
        ['x509s', [fixtureKey('jwe', 'rsa2048.cert.pem')]],
        ['gpg-privatekeys', [Buffer.from('gpg')]],
        ['gpg-privatekeys-passwords', [Buffer.from('pw')]],
      ]),
    );
    assert.deepEqual(keys.privateKeys.map((k) => k.origin), ['dir/a.pem', 'payload privkeys[0]']);
    assert.deepEqual(keys.certificates.map((c) => c.origin), ['payload x509s[0]']);
    assert.deepEqual(keys.gpgSecretKeys.map((k) => [k.origin, k.password?.toString()]), [['payload gpg-privatekeys[0]', 'pw']]);
    assert.deepEqual(keys.unusable.map((u) => u.origin), ['payload privkeys[2]']);
  });
});

describe('keys directory walk', () => {
  it('reads files in lexical order, recursively, and never opens FIFOs', () => {
    const dir = temporaryDirectory();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b'), 'B');
    writeFileSync(join(dir, 'a'), 'A');
    writeFileSync(join(dir, 'sub', 'c'), 'C');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const contents = readKeysDirectory(dir);
    assert.deepEqual(contents.files.map((f) => [f.path.slice(dir.length + 1), f.bytes.toString()]), [['a', 'A'], ['b', 'B'], ['sub/c', 'C']]);
    assert.deepEqual(contents.skipped.map((s) => [s.path.slice(dir.length + 1), s.reason]), [['fifo', 'not a regular file']]);
  });

  it('follows symlinks inside, skips those leaving the directory, reads a file once', () => {
    const outside = temporaryDirectory();
    writeFileSync(join(outside, 'secret'), 'S');
    const dir = temporaryDirectory();
    mkdirSync(join(dir, '..2026'));
    writeFileSync(join(dir, '..2026', 'key'), 'K');
    symlinkSync('..2026', join(dir, '..data'));
    symlinkSync('..data/key', join(dir, 'key'));
    symlinkSync('key', join(dir, 'key-again'));
    symlinkSync(join(outside, 'secret'), join(dir, 'escape'));
    symlinkSync('missing', join(dir, 'dangling'));
    const contents = readKeysDirectory(dir);
    assert.deepEqual(contents.files.map((f) => f.bytes.toString()), ['K']);
    assert.deepEqual(contents.skipped.map((s) => s.reason).sort(), ['dangling symlink', 'symlink points outside the keys directory']);
  });

  it('an entry that cannot be stat-ed (directory readable but not searchable) is skipped, not fatal', () => {
    const dir = temporaryDirectory();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'a.pem'), 'A');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'sub'), 0o644);
    // Root searches any directory: as root, look at it as nobody.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const script = `import { readKeysDirectory } from ${JSON.stringify(join(REPO_ROOT, 'src/platform/keys-directory.ts'))};
      console.log(JSON.stringify(readKeysDirectory(${JSON.stringify(dir)}).skipped))`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', ...asNobody });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), [{ path: join(dir, 'sub', 'a.pem'), reason: 'not readable (EACCES)' }]);
  });

  it('a missing directory is reported as missing, not thrown', () => {
    assert.equal(readKeysDirectory('/nonexistent/ctd-decoder-keys').missing, true);
  });
});
