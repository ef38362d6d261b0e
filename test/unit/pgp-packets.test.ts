/** OpenPGP items are counted by their packet headers before openpgp parses them (issue 12). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recipientsOf } from '../../src/keywrap/pgp/message.ts';
import { packetLimitProblem } from '../../src/keywrap/pgp/packets.ts';
import { MAX_OPENPGP_CHUNKS_PER_PACKET, MAX_OPENPGP_PACKETS_PER_ITEM } from '../../src/limits.ts';
import { layerCaseNames, loadLayerCase } from '../support/fixtures.ts';

/** A Marker packet (tag 10, "PGP"), which openpgp skips: padding that costs an object each. */
const MARKER = Buffer.from([0xca, 0x03, 0x50, 0x47, 0x50]);
const itemOf = (name: string) => Buffer.from(loadLayerCase('pgp', name).descriptor.annotations['org.opencontainers.image.enc.keys.pgp']!.split(',')[0]!, 'base64');

describe('OpenPGP packet limits', () => {
  it('every real item (gpg, RSA and ECC, hidden recipients) is within them', () => {
    for (const name of layerCaseNames('pgp')) assert.equal(packetLimitProblem(itemOf(name)), null, name);
  });

  it(`an item padded to more than ${MAX_OPENPGP_PACKETS_PER_ITEM} packets is refused before openpgp reads it (it was read, markers skipped)`, async () => {
    const item = itemOf('alice');
    assert.equal((await recipientsOf(Buffer.concat([...Array(MAX_OPENPGP_PACKETS_PER_ITEM - 2).fill(MARKER), item])))?.length, 1);
    const padded = Buffer.concat([...Array(MAX_OPENPGP_PACKETS_PER_ITEM).fill(MARKER), item]);
    assert.equal(packetLimitProblem(padded), `more than ${MAX_OPENPGP_PACKETS_PER_ITEM} OpenPGP packets (limit ${MAX_OPENPGP_PACKETS_PER_ITEM})`);
    assert.equal(await recipientsOf(padded), null);
  });

  it(`a packet in more than ${MAX_OPENPGP_CHUNKS_PER_PACKET} partial-length chunks is refused`, () => {
    // Literal data (tag 11) in 1-byte partial chunks (0xe0 = 2^0), then a final 1-byte chunk.
    const chunks = (n: number) => Buffer.concat([Buffer.from([0xcb]), ...Array(n - 1).fill(Buffer.from([0xe0, 0x41])), Buffer.from([0x01, 0x41])]);
    assert.equal(packetLimitProblem(chunks(MAX_OPENPGP_CHUNKS_PER_PACKET)), null);
    assert.match(packetLimitProblem(chunks(MAX_OPENPGP_CHUNKS_PER_PACKET + 1)) ?? '', /more than 1024 chunks/);
  });
});
