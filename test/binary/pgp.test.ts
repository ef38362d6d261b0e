import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertCodedFailure, assertDecrypted, decrypt, itDecryptsEveryCaseWithEachRecipient } from '../support/assertions.ts';
import { FIXTURES, fixtureKey, keysDirectoryWith, loadLayerCase, type LayerCase } from '../support/fixtures.ts';
import { decoderCommand } from '../support/paths.ts';
import type { DecoderRun } from '../support/run-decoder.ts';

const PGP_ANNOTATION = 'org.opencontainers.image.enc.keys.pgp';
const JWE_ANNOTATION = 'org.opencontainers.image.enc.keys.jwe';
const PASSPHRASE = fixtureKey('pgp', 'passphrase.txt').toString('utf8').trim();
const WRONG_PASSPHRASE = 'not-the-fixture-passphrase';
const ALICE = loadLayerCase('pgp', 'alice');
const MIXED = loadLayerCase('pgp', 'mixed-jwe-pgp');
const HIDDEN = loadLayerCase('pgp', 'alice-hidden');

/** Exit 1, nothing on stdout (the key was never found), exactly one coded line naming the layer, no passphrase. */
function assertFails(run: DecoderRun, code: string, layer: LayerCase = ALICE): string {
  assertCodedFailure(run, code, { layer, noOutput: true, secrets: [PASSPHRASE, WRONG_PASSPHRASE] });
  assert.match(run.stderr, /^ctd-decoder: ERR_[A-Z_]+ layer sha256:/);
  return run.stderr;
}

function withPasswordFile(dir: string, keyFile: string, passphrase: string): string {
  writeFileSync(join(dir, `${keyFile}.password`), passphrase + '\n');
  return dir;
}

function withoutAnnotation(layer: LayerCase, annotation: string): unknown {
  const annotations = Object.fromEntries(Object.entries(layer.descriptor.annotations).filter(([name]) => name !== annotation));
  return { ...layer.descriptor, annotations };
}

describe('OpenPGP layers decrypt byte-identically with every recipient keyring in the keys directory', () => itDecryptsEveryCaseWithEachRecipient('pgp'));

describe('keys and passphrases', () => {
  it('binary and armored keyrings in one keys directory, beside unrelated keys', async () => {
    const dir = keysDirectoryWith('pgp', 'mallory.sec.asc', 'carol.sec.gpg', 'alice.sec.asc', 'bob.sec.gpg');
    assertDecrypted(await decrypt(ALICE, dir), ALICE);
  });

  for (const name of ['alice.sec.gpg', 'alice.sec.asc']) {
    it(`${name} only in the payload (gpg-privatekeys)`, async () => {
      assertDecrypted(await decrypt(ALICE, null, { 'gpg-privatekeys': [fixtureKey('pgp', name)], 'gpg-privatekeys-passwords': [null] }), ALICE);
    });
  }

  it('payload keys are appended to keys-directory keys', async () => {
    const run = await decrypt(ALICE, keysDirectoryWith('pgp', 'mallory.sec.gpg'), { 'gpg-privatekeys': [fixtureKey('pgp', 'alice.sec.gpg')] });
    assertDecrypted(run, ALICE);
  });

  for (const name of ['alice-protected.sec.gpg', 'alice-protected.sec.asc']) {
    it(`${name}: passphrase from the payload (gpg-privatekeys-passwords)`, async () => {
      const parameters = { 'gpg-privatekeys': [fixtureKey('pgp', name)], 'gpg-privatekeys-passwords': [Buffer.from(PASSPHRASE)] };
      assertDecrypted(await decrypt(ALICE, null, parameters), ALICE);
    });

    it(`${name}: passphrase from ${name}.password in the keys directory`, async () => {
      assertDecrypted(await decrypt(ALICE, withPasswordFile(keysDirectoryWith('pgp', name), name, PASSPHRASE)), ALICE);
    });
  }

  it('a protected key without passphrase is skipped and another key in the directory still opens the layer', async () => {
    assertDecrypted(await decrypt(ALICE, keysDirectoryWith('pgp', 'alice-protected.sec.asc', 'alice.sec.gpg')), ALICE);
    // the unusable key comes first in lexical order here too
    assertDecrypted(await decrypt(ALICE, keysDirectoryWith('pgp', 'alice-bob.sec.gpg', 'alice-protected.sec.gpg')), ALICE);
  });

  it('a keyring whose primary key is a stub (gpg --export-secret-subkeys) opens layers for its subkey', async () => {
    assertDecrypted(await decrypt(ALICE, keysDirectoryWith('pgp', 'alice-subkeys.sec.gpg')), ALICE);
  });

  it('several armored exports concatenated into one file', async () => {
    const dir = keysDirectoryWith('pgp');
    writeFileSync(join(dir, 'ring.asc'), Buffer.concat([fixtureKey('pgp', 'mallory.sec.asc'), fixtureKey('pgp', 'alice.sec.asc')]));
    assertDecrypted(await decrypt(ALICE, dir), ALICE);
  });

  it('hidden recipient (wildcard key ID): every key is tried', async () => {
    assertDecrypted(await decrypt(HIDDEN, keysDirectoryWith('pgp', 'mallory.sec.gpg', 'carol.sec.gpg', 'alice.sec.gpg')), HIDDEN);
    const parameters = { 'gpg-privatekeys': [fixtureKey('pgp', 'alice-protected.sec.gpg')], 'gpg-privatekeys-passwords': [Buffer.from(PASSPHRASE)] };
    assertDecrypted(await decrypt(HIDDEN, keysDirectoryWith('pgp', 'mallory.sec.asc'), parameters), HIDDEN);
  });
});

describe('a layer wrapped for jwe and pgp opens with either scheme\'s key alone', () => {
  it('only the pgp keyring', async () => assertDecrypted(await decrypt(MIXED, keysDirectoryWith('pgp', 'alice.sec.gpg')), MIXED));
  it('only the jwe private key', async () => assertDecrypted(await decrypt(MIXED, keysDirectoryWith('pgp', 'jwe-rsa2048.pkcs8.pem')), MIXED));

  it('a wrong jwe key does not stop the pgp keyring', async () => {
    const dir = keysDirectoryWith('pgp', 'alice.sec.asc');
    writeFileSync(join(dir, 'other.pem'), fixtureKey('jwe', 'wrong-rsa2048.pkcs8.pem'));
    assertDecrypted(await decrypt(MIXED, dir), MIXED);
  });

  it('a junk pgp annotation and a junk key-provider annotation do not stop the jwe key', async () => {
    const annotations = { ...MIXED.descriptor.annotations, [PGP_ANNOTATION]: 'not*base64', 'org.opencontainers.image.enc.keys.provider.junk': '%%%' };
    assertDecrypted(await decrypt(MIXED, keysDirectoryWith('pgp', 'jwe-rsa2048.pkcs8.pem'), null, { ...MIXED.descriptor, annotations }), MIXED);
  });

  it('a junk jwe annotation does not stop the pgp keyring, even with a jwe key beside it', async () => {
    const annotations = { ...MIXED.descriptor.annotations, [JWE_ANNOTATION]: 'not*base64' };
    const dir = keysDirectoryWith('pgp', 'alice.sec.gpg', 'jwe-rsa2048.pkcs8.pem');
    assertDecrypted(await decrypt(MIXED, dir, null, { ...MIXED.descriptor, annotations }), MIXED);
  });

  it('neither key: both schemes say why', async () => {
    const dir = keysDirectoryWith('pgp', 'mallory.sec.gpg');
    writeFileSync(join(dir, 'other.pem'), fixtureKey('jwe', 'wrong-rsa2048.pkcs8.pem'));
    const stderr = assertFails(await decrypt(MIXED, dir), 'ERR_NO_MATCHING_KEY', MIXED);
    assert.match(stderr, /jwe: no private key fits/);
    assert.match(stderr, /pgp: no secret key for recipient key ID [0-9A-F]{16} \(1 keyring tried\)/);
  });
});

describe('failures: one coded line, nothing on stdout', () => {
  it('no gpg key at all: ERR_NO_KEY_SUPPLIED', async () => {
    const stderr = assertFails(await decrypt(ALICE, keysDirectoryWith('pgp', 'jwe-rsa2048.pkcs8.pem')), 'ERR_NO_KEY_SUPPLIED');
    assert.match(stderr, /pgp: no OpenPGP secret keys supplied/);
    assert.match(stderr, / — put the private key matching the image's encryption recipient/);
  });

  for (const name of ['alice.pub.gpg', 'alice.pub.asc']) {
    it(`public-only keyring ${name}: ERR_NO_KEY_SUPPLIED, naming the skipped file`, async () => {
      const stderr = assertFails(await decrypt(ALICE, keysDirectoryWith('pgp', name)), 'ERR_NO_KEY_SUPPLIED');
      assert.match(stderr, /pgp: no OpenPGP secret keys supplied/);
      assert.ok(stderr.includes(name), stderr);
    });
  }

  it('public-only keyring in the payload: ERR_NO_KEY_SUPPLIED, as from the keys directory', async () => {
    const stderr = assertFails(await decrypt(ALICE, null, { 'gpg-privatekeys': [fixtureKey('pgp', 'alice.pub.gpg')] }), 'ERR_NO_KEY_SUPPLIED');
    assert.match(stderr, /OpenPGP public key, not a secret key: payload gpg-privatekeys\[0\]/);
  });

  it('wrong key: ERR_NO_MATCHING_KEY naming the recipient key IDs', async () => {
    const stderr = assertFails(await decrypt(loadLayerCase('pgp', 'alice-bob'), keysDirectoryWith('pgp', 'mallory.sec.gpg', 'carol.sec.asc')), 'ERR_NO_MATCHING_KEY', loadLayerCase('pgp', 'alice-bob'));
    assert.match(stderr, /pgp: no secret key for recipient key IDs [0-9A-F]{16}, [0-9A-F]{16} \(2 keyrings tried\)/);
  });

  it('wrong key for a hidden recipient: every key tried', async () => {
    const stderr = assertFails(await decrypt(HIDDEN, keysDirectoryWith('pgp', 'mallory.sec.gpg')), 'ERR_NO_MATCHING_KEY', HIDDEN);
    assert.match(stderr, /pgp: key [0-9A-F]{16} in \S+mallory\.sec\.gpg did not open the message \(hidden recipient, so every secret key was tried\)/);
  });

  it('protected key without passphrase alone: ERR_NO_KEY_SUPPLIED, says where the passphrase goes', async () => {
    const dir = keysDirectoryWith('pgp', 'alice-protected.sec.gpg');
    const stderr = assertFails(await decrypt(ALICE, dir), 'ERR_NO_KEY_SUPPLIED');
    assert.ok(stderr.includes(`needs a passphrase (put it in ${join(dir, 'alice-protected.sec.gpg')}.password)`), stderr);
    assert.match(stderr, / — a key above is locked: give its password in NAME\.password .*gpg-privatekeys-passwords$/);
  });

  it('wrong passphrase in NAME.password: ERR_NO_KEY_SUPPLIED (no usable key), passphrase not shown', async () => {
    const dir = withPasswordFile(keysDirectoryWith('pgp', 'alice-protected.sec.asc'), 'alice-protected.sec.asc', WRONG_PASSPHRASE);
    const stderr = assertFails(await decrypt(ALICE, dir), 'ERR_NO_KEY_SUPPLIED');
    assert.match(stderr, /pgp: wrong passphrase for key [0-9A-F]{16} in \S+alice-protected\.sec\.asc/);
    assert.match(stderr, / — a key above is locked: give its password/);
  });

  it('wrong passphrase in the payload: ERR_NO_KEY_SUPPLIED (no usable key), passphrase not shown', async () => {
    const parameters = { 'gpg-privatekeys': [fixtureKey('pgp', 'alice-protected.sec.gpg')], 'gpg-privatekeys-passwords': [Buffer.from(WRONG_PASSPHRASE)] };
    const stderr = assertFails(await decrypt(ALICE, null, parameters), 'ERR_NO_KEY_SUPPLIED');
    assert.match(stderr, /pgp: wrong passphrase for key [0-9A-F]{16} in payload gpg-privatekeys\[0\]/);
  });

  it('stub without any secret part: ERR_NO_KEY_SUPPLIED (no usable key)', async () => {
    const bob = loadLayerCase('pgp', 'bob');
    const stderr = assertFails(await decrypt(bob, keysDirectoryWith('pgp', 'bob-stub.sec.gpg')), 'ERR_NO_KEY_SUPPLIED', bob);
    assert.match(stderr, /has no secret part \(a gpg stub\)/);
    assert.match(stderr, / — put the private key matching/, 'a stub needs the real key, not a password');
  });

  it('malformed pgp item: ERR_BAD_ANNOTATION, the image is corrupt (not a key problem)', async () => {
    const descriptor = { ...ALICE.descriptor, annotations: { ...ALICE.descriptor.annotations, [PGP_ANNOTATION]: Buffer.from('not an OpenPGP message').toString('base64') } };
    const stderr = assertFails(await decrypt(ALICE, keysDirectoryWith('pgp', 'alice.sec.gpg'), null, descriptor), 'ERR_BAD_ANNOTATION');
    assert.match(stderr, /: layer's wrapped keys are malformed or corrupt \(pgp: no item is a binary OpenPGP message \(1 malformed\)\) — the image's wrapped keys are corrupt; re-encrypt or re-push it$/);
  });

  it('malformed pgp item and no key for the other scheme: ERR_BAD_ANNOTATION naming both', async () => {
    const annotations = { ...MIXED.descriptor.annotations, [PGP_ANNOTATION]: Buffer.from('not an OpenPGP message').toString('base64') };
    const stderr = assertFails(await decrypt(MIXED, keysDirectoryWith('pgp', 'alice.sec.gpg'), null, { ...MIXED.descriptor, annotations }), 'ERR_BAD_ANNOTATION', MIXED);
    assert.match(stderr, /\(pgp: no item is a binary OpenPGP message \(1 malformed\); jwe: no RSA or EC private key supplied\) — .*or supply a key for another scheme named above$/);
  });

  it('jwe-only view of the mixed layer with only the pgp key: ERR_NO_KEY_SUPPLIED', async () => {
    const run = await decrypt(MIXED, keysDirectoryWith('pgp', 'alice.sec.gpg'), null, withoutAnnotation(MIXED, PGP_ANNOTATION));
    assert.match(assertFails(run, 'ERR_NO_KEY_SUPPLIED', MIXED), /jwe: /);
  });

  it('pgp-only view of the mixed layer with only the jwe key: ERR_NO_KEY_SUPPLIED', async () => {
    const run = await decrypt(MIXED, keysDirectoryWith('pgp', 'jwe-rsa2048.pkcs8.pem'), null, withoutAnnotation(MIXED, JWE_ANNOTATION));
    assert.match(assertFails(run, 'ERR_NO_KEY_SUPPLIED', MIXED), /pgp: no OpenPGP secret keys supplied/);
  });
});

describe('operator commands describe OpenPGP recipients and keyrings, never their secrets', () => {
  const layerDescriptor = (name: string) => join(FIXTURES, 'pgp', 'layers', name, 'descriptor.json');
  const runCommand = (...args: string[]) => {
    const result = spawnSync(...decoderCommand(args), { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  };
  const inspectRecipients = (name: string): string[] => JSON.parse(runCommand('inspect', '--json', layerDescriptor(name))).manifests[0].layers[0].schemes.find((scheme: { scheme: string }) => scheme.scheme === 'pgp').recipients;

  it('inspect: the PKESK key IDs of each item, and a hidden recipient as such', () => {
    assert.deepEqual(inspectRecipients('alice-bob').map((line) => /^key ID [0-9A-F]{16}$/.test(line)), [true, true]);
    assert.deepEqual(inspectRecipients('alice-hidden'), ['hidden recipient (any secret key may open it)']);
    assert.doesNotMatch(runCommand('inspect', layerDescriptor('alice')), /recipients not described/);
  });

  it('keys: fingerprint, user IDs, the key IDs inspect shows, and whether the passphrase is needed and right', () => {
    const dir = keysDirectoryWith('pgp', 'alice-bob.sec.gpg', 'alice-protected.sec.asc', 'alice-protected.sec.gpg', 'bob-stub.sec.gpg');
    withPasswordFile(dir, 'alice-protected.sec.asc', PASSPHRASE);
    withPasswordFile(dir, 'alice-protected.sec.gpg', WRONG_PASSPHRASE);
    const files: { path: string; details: string[] }[] = JSON.parse(runCommand('keys', '--json', dir)).files;
    const details = (path: string) => files.find((file) => file.path === path)!.details;
    const [aliceKeyId, bobKeyId] = inspectRecipients('alice-bob').map((line) => line.slice('key ID '.length));
    const line = (name: string, keyId: string | undefined, passphrase: string) =>
      new RegExp(`^fingerprint [0-9A-F]{40}; user IDs "${name} <${name.toLowerCase()}@example\\.com>"; encrypts with key ID ${keyId}; ${passphrase}$`);

    const [alice, bob] = details('alice-bob.sec.gpg');
    assert.match(alice!, line('Alice', aliceKeyId, 'no passphrase needed'));
    assert.match(bob!, line('Bob', bobKeyId, 'no passphrase needed'));
    assert.match(details('alice-protected.sec.asc')[0]!, line('Alice', aliceKeyId, 'passphrase needed and given'));
    assert.match(details('alice-protected.sec.gpg')[0]!, line('Alice', aliceKeyId, 'passphrase needed; the one given is wrong'));
    assert.match(details('bob-stub.sec.gpg')[0]!, line('Bob', bobKeyId, 'no secret part \\(a gpg stub\\)'));
    const text = runCommand('keys', dir);
    for (const secret of [PASSPHRASE, WRONG_PASSPHRASE, 'PRIVATE KEY']) assert.ok(!text.includes(secret), `keys shows ${secret}`);
  });
});
