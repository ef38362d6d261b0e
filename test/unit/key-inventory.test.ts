// The keys directory as `ctd-decoder keys`, inspect and doctor describe it:
// the decode path's own walk and assembly, file by file.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { takeKeyInventory, type KeyInventoryEntry } from '../../src/operator/key-inventory.ts';
import { registeredSchemes } from '../../src/decode/scheme-registry.ts';
import { readKeysDirectory } from '../../src/platform/keys-directory.ts';
import { FIXTURES } from '../support/paths.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const JWE_KEYS = join(FIXTURES, 'jwe', 'keys');
const PASSWORD = 'ctd-decoder-fixture-password';

async function inventory(directory: string): Promise<Map<string, KeyInventoryEntry>> {
  const entries = await takeKeyInventory(readKeysDirectory(directory), registeredSchemes());
  return new Map(entries.map((entry) => [entry.path.slice(directory.length + 1), entry]));
}

function keysDirectory(...names: string[]): string {
  const dir = temporaryDirectory('ctd-decoder-inventory-');
  for (const name of names) {
    copyFileSync(join(JWE_KEYS, name), join(dir, name));
    chmodSync(join(dir, name), 0o600);
  }
  return dir;
}

describe('key inventory', () => {
  it('describes private keys with algorithm, schemes and the SPKI fingerprint openssl prints', async () => {
    const dir = keysDirectory('rsa2048.pkcs8.pem', 'ec256.sec1.der');
    const entries = await inventory(dir);
    const rsa = entries.get('rsa2048.pkcs8.pem')!;
    assert.equal(rsa.role, 'key');
    assert.equal(rsa.what, 'RSA 2048 private key');
    assert.ok(rsa.schemes.includes('jwe') && rsa.schemes.includes('pkcs7'), rsa.schemes.join());
    const der = execFileSync('openssl', ['pkey', '-in', join(dir, 'rsa2048.pkcs8.pem'), '-pubout', '-outform', 'DER']);
    const expected = execFileSync('sha256sum', { input: der }).toString().split(' ')[0];
    assert.equal(rsa.fingerprint, `sha256:${expected}`);
    const ec = entries.get('ec256.sec1.der')!;
    assert.equal(ec.what, 'EC P-256 private key');
    assert.ok(ec.schemes.includes('jwe') && !ec.schemes.includes('pkcs7'), ec.schemes.join());
    assert.deepEqual([...rsa.warnings, ...ec.warnings], []);
  });

  it('a certificate is a helper with the fingerprint of its key', async () => {
    const entries = await inventory(keysDirectory('rsa2048.cert.pem', 'rsa2048.pkcs1.pem'));
    const certificate = entries.get('rsa2048.cert.pem')!;
    assert.equal(certificate.role, 'helper');
    assert.match(certificate.what, /^X\.509 certificate CN=ctd-decoder test rsa2048/);
    assert.equal(certificate.fingerprint, entries.get('rsa2048.pkcs1.pem')!.fingerprint);
  });

  it('a password-protected key asks for NAME.password, and works with it', async () => {
    const dir = keysDirectory('rsa2048.dekinfo.pem', 'rsa2048.pkcs8-encrypted.pem');
    writeFileSync(join(dir, 'rsa2048.pkcs8-encrypted.pem.password'), `${PASSWORD}\n`, { mode: 0o600 });
    const entries = await inventory(dir);
    const locked = entries.get('rsa2048.dekinfo.pem')!;
    assert.equal(locked.role, 'unusable');
    assert.deepEqual(locked.warnings, [`password needed: write it to ${dir}/rsa2048.dekinfo.pem.password (first line)`]);
    assert.equal(entries.get('rsa2048.pkcs8-encrypted.pem')!.role, 'key');
    assert.equal(entries.get('rsa2048.pkcs8-encrypted.pem.password')!.what, `password for ${dir}/rsa2048.pkcs8-encrypted.pem`);
    assert.ok(entries.get('rsa2048.pkcs8-encrypted.pem')!.keys!.privateKeys.length === 1);
  });

  it('warns about key files open to group or others', async () => {
    const dir = keysDirectory('ec256.pkcs8.pem');
    chmodSync(join(dir, 'ec256.pkcs8.pem'), 0o644);
    assert.deepEqual((await inventory(dir)).get('ec256.pkcs8.pem')!.warnings, [`group or others have access (mode 0644): chmod 600 ${dir}/ec256.pkcs8.pem`]);
  });

  it('explains the symlink rule: inside followed, outside skipped', async () => {
    const outside = keysDirectory('rsa2048.pkcs8.pem');
    const dir = keysDirectory('ec256.pkcs8.pem');
    symlinkSync('ec256.pkcs8.pem', join(dir, 'link-inside.pem'));
    symlinkSync(join(outside, 'rsa2048.pkcs8.pem'), join(dir, 'link-outside.pem'));
    const entries = await inventory(dir);
    assert.equal(entries.size, 2, [...entries.keys()].join());
    assert.equal(entries.get('link-outside.pem')!.role, 'unusable');
    assert.equal(entries.get('link-outside.pem')!.what, 'symlink points outside the keys directory');
    assert.match(entries.get('link-outside.pem')!.warnings[0]!, /self-contained/);
    // The inside link and its target are one file, read once (under its first name).
    const inside = entries.get('ec256.pkcs8.pem')!;
    assert.equal(inside.role, 'key');
  });

  it('public keys and other files are unusable, with the reason', async () => {
    const dir = keysDirectory('rsa2048.pub.pem');
    writeFileSync(join(dir, 'README'), 'node keys\n');
    const entries = await inventory(dir);
    assert.deepEqual(
      [...entries.values()].map((entry) => [entry.role, entry.what]),
      [
        ['unusable', 'not a private key'],
        ['unusable', 'public key, not a private key'],
      ],
    );
  });
});
