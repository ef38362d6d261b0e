import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyKeyFile } from '../../src/keys/classify.ts';
import { assembleDecryptionKeys, type DecryptionKeys, type SuppliedBytes } from '../../src/keys/decryption-keys.ts';
import { pgpScheme } from '../../src/keywrap/pgp.ts';
import { readSecretKeyrings } from '../../src/keywrap/pgp/keyrings.ts';
import { recipientsOf } from '../../src/keywrap/pgp/message.ts';
import { failureReason, type UnwrapOutcome } from '../../src/keywrap/pgp/reasons.ts';
import { candidatesFor, formatKeyId, WILDCARD_KEY_ID } from '../../src/keywrap/pgp/selection.ts';
import { unlockPackets } from '../../src/keywrap/pgp/unlock.ts';
import { UnwrapFailure } from '../../src/keywrap/scheme.ts';
import { fixtureKey, loadLayerCase } from '../support/fixtures.ts';

const PGP_ANNOTATION = 'org.opencontainers.image.enc.keys.pgp';
const PASSPHRASE = fixtureKey('pgp', 'passphrase.txt').toString('utf8').trim();

function pgpItems(layer: string): Buffer[] {
  return loadLayerCase('pgp', layer).descriptor.annotations[PGP_ANNOTATION]!.split(',').map((item) => Buffer.from(item, 'base64'));
}

function supplied(name: string, password: string | null = null): SuppliedBytes {
  return { origin: `/keys/${name}`, bytes: fixtureKey('pgp', name), password: password === null ? null : Buffer.from(password) };
}

function keysWith(...gpgSecretKeys: SuppliedBytes[]): DecryptionKeys {
  return { ...assembleDecryptionKeys([], new Map()), gpgSecretKeys };
}

async function recipients(layer: string) {
  const ids = await recipientsOf(pgpItems(layer)[0]!);
  assert.ok(ids !== null);
  return ids;
}

async function unwrapFailure(layer: string, ...keys: SuppliedBytes[]): Promise<string> {
  const error = await pgpScheme.unwrap(pgpItems(layer), keysWith(...keys)).then(
    () => assert.fail('unwrap succeeded'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof UnwrapFailure, String(error));
  return error.message;
}

describe('keys directory sniffing sends gpg exports to the pgp scheme', () => {
  for (const name of ['alice.sec.gpg', 'alice.sec.asc', 'alice-protected.sec.gpg', 'alice-protected.sec.asc', 'alice-subkeys.sec.gpg', 'carol.sec.asc', 'dave.sec.gpg']) {
    it(`${name} is an OpenPGP secret keyring`, () => assert.equal(classifyKeyFile(fixtureKey('pgp', name), null).kind, 'gpg-secret-keys'));
  }
  for (const name of ['alice.pub.gpg', 'alice.pub.asc']) {
    it(`${name} is skipped as a public key`, () => {
      assert.deepEqual(classifyKeyFile(fixtureKey('pgp', name), null), { kind: 'unusable', reason: 'OpenPGP public key, not a secret key' });
    });
  }
});

describe('keyrings', () => {
  it('reads binary and armored exports, and several keys from one keyring', async () => {
    const { keyrings, unreadable } = await readSecretKeyrings([supplied('alice.sec.gpg'), supplied('alice.sec.asc'), supplied('alice-bob.sec.gpg')]);
    assert.deepEqual(unreadable, []);
    assert.deepEqual(keyrings.map((keyring) => keyring.keys.length), [1, 1, 2]);
  });

  it('reads every block of concatenated armored exports', async () => {
    const both = Buffer.concat([fixtureKey('pgp', 'mallory.sec.asc'), fixtureKey('pgp', 'alice.sec.asc')]);
    const { keyrings } = await readSecretKeyrings([{ origin: 'both.asc', bytes: both, password: null }]);
    assert.equal(keyrings[0]!.keys.length, 2);
  });

  it('says why a keyring is of no use', async () => {
    const { keyrings, unreadable } = await readSecretKeyrings([
      supplied('alice.pub.gpg'),
      supplied('alice.pub.asc'),
      { origin: 'garbage', bytes: Buffer.from('not a keyring'), password: null },
    ]);
    assert.deepEqual(keyrings, []);
    assert.deepEqual(unreadable, [
      { origin: '/keys/alice.pub.gpg', reason: 'holds public keys only' },
      { origin: '/keys/alice.pub.asc', reason: 'holds public keys only' },
      { origin: 'garbage', reason: 'not a readable OpenPGP keyring' },
    ]);
  });
});

describe('key selection by PKESK key ID', () => {
  it('reads one PKESK key ID per recipient', async () => {
    assert.equal((await recipients('alice')).length, 1);
    assert.equal((await recipients('alice-bob')).length, 2);
    assert.deepEqual((await recipients('alice-hidden')).map(formatKeyId), [WILDCARD_KEY_ID]);
  });

  it('picks the key holding the named subkey, not every key of the keyring', async () => {
    const { keyrings } = await readSecretKeyrings([supplied('mallory.sec.gpg'), supplied('alice-bob.sec.gpg')]);
    const alice = await recipients('alice');
    const candidates = candidatesFor(keyrings, alice);
    assert.equal(candidates.length, 1);
    assert.equal(candidates[0]!.keyring.origin, '/keys/alice-bob.sec.gpg');
    assert.equal(candidates[0]!.keyId, formatKeyId(alice[0]!));
    // alice's encryption subkey is named, not her primary key.
    assert.notEqual(candidates[0]!.keyId, formatKeyId(candidates[0]!.key.getKeyID()));
  });

  it('picks a primary key that encrypts (bob has no subkey)', async () => {
    const { keyrings } = await readSecretKeyrings([supplied('alice-bob.sec.gpg')]);
    const [bob] = candidatesFor(keyrings, await recipients('bob'));
    assert.equal(bob!.keyId, formatKeyId(bob!.key.getKeyID()));
  });

  it('tries every key for a hidden recipient', async () => {
    const { keyrings } = await readSecretKeyrings([supplied('mallory.sec.gpg'), supplied('alice-bob.sec.gpg')]);
    assert.equal(candidatesFor(keyrings, await recipients('alice-hidden')).length, 3);
  });

  it('has no candidate for a non-recipient', async () => {
    const { keyrings } = await readSecretKeyrings([supplied('mallory.sec.gpg'), supplied('carol.sec.gpg')]);
    assert.deepEqual(candidatesFor(keyrings, await recipients('alice-bob')), []);
  });
});

describe('unlocking', () => {
  async function aliceProtectedPackets(file = 'alice-protected.sec.gpg') {
    const { keyrings } = await readSecretKeyrings([supplied(file)]);
    return candidatesFor(keyrings, await recipients('alice'))[0]!.packets;
  }

  it('needs a passphrase for a protected key', async () => assert.equal(await unlockPackets(await aliceProtectedPackets(), null), 'needs-passphrase'));
  it('tells a wrong passphrase', async () => assert.equal(await unlockPackets(await aliceProtectedPackets(), 'not the passphrase'), 'wrong-passphrase'));
  it('unlocks with the passphrase', async () => assert.equal(await unlockPackets(await aliceProtectedPackets('alice-protected.sec.asc'), PASSPHRASE), null));

  it('leaves unprotected keys alone', async () => {
    const { keyrings } = await readSecretKeyrings([supplied('alice.sec.gpg')]);
    assert.equal(await unlockPackets(candidatesFor(keyrings, await recipients('alice'))[0]!.packets, null), null);
  });

  it('finds no secret part in a gpg stub', async () => {
    const { keyrings } = await readSecretKeyrings([supplied('bob-stub.sec.gpg')]);
    assert.equal(await unlockPackets(candidatesFor(keyrings, await recipients('bob'))[0]!.packets, null), 'no-secret-part');
  });
});

describe('pgp scheme', () => {
  it('reports missing keys only when no gpg keyring was supplied', () => {
    assert.deepEqual(pgpScheme.checkKeys(keysWith()), { canTry: false, missing: 'no OpenPGP secret keys supplied' });
    assert.deepEqual(pgpScheme.checkKeys(keysWith(supplied('alice.pub.gpg'))), { canTry: true });
  });

  it('unwraps to the private options JSON', async () => {
    const options = JSON.parse((await pgpScheme.unwrap(pgpItems('carol-cv25519'), keysWith(supplied('alice.sec.gpg'), supplied('carol.sec.asc')))).toString());
    assert.equal(Buffer.from(options.symkey, 'base64').length, 32);
  });

  it('lets a usable key open the layer after a protected key without passphrase', async () => {
    const options = await pgpScheme.unwrap(pgpItems('alice'), keysWith(supplied('alice-protected.sec.gpg'), supplied('alice.sec.asc')));
    assert.ok(JSON.parse(options.toString()).symkey);
  });

  it('names the recipients no key matched', async () => {
    const [alice] = (await recipients('alice')).map(formatKeyId);
    assert.equal(
      await unwrapFailure('alice', supplied('mallory.sec.gpg'), supplied('bob.sec.gpg')),
      `no secret key for recipient key ID ${alice} (2 keyrings tried)`,
    );
  });

  it('says where to put a missing passphrase, and never shows a passphrase', async () => {
    const [alice] = (await recipients('alice')).map(formatKeyId);
    assert.equal(
      await unwrapFailure('alice', supplied('alice-protected.sec.gpg')),
      `key ${alice} in /keys/alice-protected.sec.gpg needs a passphrase (put it in /keys/alice-protected.sec.gpg.password)`,
    );
    const payloadKey = { origin: 'payload gpg-privatekeys[0]', bytes: fixtureKey('pgp', 'alice-protected.sec.asc'), password: null };
    assert.match(await unwrapFailure('alice', payloadKey), /needs a passphrase \(send it in gpg-privatekeys-passwords\)$/);
    const wrong = await unwrapFailure('alice', supplied('alice-protected.sec.gpg', 'hunter2-wrong'));
    assert.equal(wrong, `wrong passphrase for key ${alice} in /keys/alice-protected.sec.gpg`);
  });
});

describe('failure reasons', () => {
  const outcome = (fields: Partial<UnwrapOutcome>): UnwrapOutcome => ({
    items: 1,
    malformedItems: 0,
    recipients: ['1234ABCD5678EF90'],
    keyringsRead: 1,
    unreadableKeyrings: [],
    attempts: [],
    ...fields,
  });

  it('counts keyrings and names unreadable ones', () => {
    assert.equal(
      failureReason(outcome({ recipients: ['1234ABCD5678EF90', 'ABCDEF0123456789'], unreadableKeyrings: [{ origin: 'payload gpg-privatekeys[0]', reason: 'holds public keys only' }] })),
      'no secret key for recipient key IDs 1234ABCD5678EF90, ABCDEF0123456789 (2 keyrings tried, payload gpg-privatekeys[0] holds public keys only)',
    );
  });

  it('lists each distinct problem once, at most three', () => {
    const attempt = (keyId: string, problem: 'did-not-open' | 'no-secret-part') => ({ keyId, origin: '/k/ring.gpg', problem });
    const reason = failureReason(
      outcome({ attempts: [attempt('A', 'did-not-open'), attempt('A', 'did-not-open'), attempt('B', 'no-secret-part'), attempt('C', 'did-not-open'), attempt('D', 'did-not-open')] }),
    );
    assert.equal(
      reason,
      'key A in /k/ring.gpg did not open the message, key B in /k/ring.gpg has no secret part (a gpg stub), key C in /k/ring.gpg did not open the message, and 1 more',
    );
  });

  it('says when every key was tried for a hidden recipient', () => {
    const reason = failureReason(outcome({ recipients: [WILDCARD_KEY_ID], attempts: [{ keyId: 'A', origin: 'k', problem: 'did-not-open' }] }));
    assert.equal(reason, 'key A in k did not open the message (hidden recipient, so every secret key was tried)');
  });

  it('tells malformed items apart', () => {
    assert.equal(failureReason(outcome({ items: 2, malformedItems: 2, recipients: [] })), 'no item is a binary OpenPGP message (2 malformed)');
    assert.equal(failureReason(outcome({ items: 2, malformedItems: 1 })), 'no secret key for recipient key ID 1234ABCD5678EF90 (1 keyring tried, 1 malformed item(s))');
  });

  it('stays on one line', () => {
    assert.doesNotMatch(failureReason(outcome({ unreadableKeyrings: [{ origin: 'a', reason: 'b' }] })), /\n/);
  });
});

describe('damaged items and keyrings end in an UnwrapFailure, never another error', () => {
  /** Deterministic xorshift32, so a failure can be replayed. */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 2 ** 32;
    };
  }

  function damaged(original: Buffer, next: () => number): Buffer {
    const copy = Buffer.from(original);
    switch (Math.floor(next() * 3)) {
      case 0:
        for (let flips = 1 + Math.floor(next() * 4); flips > 0; flips--) copy[Math.floor(next() * copy.length)]! ^= 1 + Math.floor(next() * 255);
        return copy;
      case 1:
        return copy.subarray(0, Math.floor(next() * copy.length));
      default:
        return Buffer.concat([copy, Buffer.from(Array.from({ length: 1 + Math.floor(next() * 32) }, () => Math.floor(next() * 256)))]);
    }
  }

  async function unwrapsOrFailsCleanly(items: Buffer[], keys: DecryptionKeys): Promise<void> {
    try {
      await pgpScheme.unwrap(items, keys);
    } catch (error) {
      assert.ok(error instanceof UnwrapFailure, `not an UnwrapFailure: ${String(error)}`);
      assert.doesNotMatch(error.message, /[\r\n]/);
    }
  }

  it('damaged wrapped-key items', async () => {
    const next = random(0x5eed1);
    const [item] = pgpItems('alice');
    for (let run = 0; run < 300; run++) await unwrapsOrFailsCleanly([damaged(item!, next)], keysWith(supplied('alice.sec.gpg')));
  });

  it('damaged keyrings, binary and armored, with and without passphrase', async () => {
    const next = random(0x5eed2);
    const items = pgpItems('alice');
    for (const [name, password] of [['alice.sec.gpg', null], ['carol.sec.asc', null], ['alice-protected.sec.gpg', PASSPHRASE]] as const) {
      for (let run = 0; run < 100; run++) {
        await unwrapsOrFailsCleanly(items, keysWith({ origin: name, bytes: damaged(fixtureKey('pgp', name), next), password: password === null ? null : Buffer.from(password) }));
      }
    }
  });
});
