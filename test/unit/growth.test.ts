/**
 * Work grows linearly with the image bytes a parser reads: doubling the input
 * at most about doubles the work. Work is counted, never timed: the blocks of
 * JavaScript V8 ran (test/support/work-count.ts), in our code and in the
 * libraries (jose, openpgp) that parse image bytes. Linear work doubles
 * (ratio 2, less with fixed costs); quadratic work would quadruple.
 */
import { growth } from '../support/work-count.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

const { decodeStdBase64 } = await import('../../src/encoding/base64.ts');
const { decodeItems } = await import('../../src/decode/unwrap-layer-key.ts');
const { assembleDecryptionKeys } = await import('../../src/keys/decryption-keys.ts');
const { jweScheme } = await import('../../src/keywrap/jwe.ts');
const { childrenOf, octetsOf, readElement } = await import('../../src/keywrap/pkcs7/der.ts');
const { pkcs7Scheme } = await import('../../src/keywrap/pkcs7.ts');
const { parseItem } = await import('../../src/keywrap/pkcs11/blob.ts');
const { packetLimitProblem } = await import('../../src/keywrap/pgp/packets.ts');
const { recipientsOf } = await import('../../src/keywrap/pgp/message.ts');
const { decodePayload } = await import('../../src/payload/payload.ts');
const { encodePayload } = await import('../support/payload.ts');
const { fixtureKey, loadLayerCase } = await import('../support/fixtures.ts');

/** Doubling the input may double the work, plus a margin for what a count of blocks cannot tell apart. */
const MAX_RATIO = 2.3;
const PREFIX = 'org.opencontainers.image.enc.keys.';

async function assertLinear(sizes: readonly [number, number, number], run: (size: number) => unknown): Promise<void> {
  const { work, ratio } = await growth(sizes, run);
  if (process.env["GROWTH_DEBUG"]) console.log(sizes.join(","), work.join(","), ratio.toFixed(2));
  assert.ok(work[0]! > 0, 'no work was counted');
  assert.ok(ratio <= MAX_RATIO, `work ${work.join(' -> ')} for sizes ${sizes.join(' -> ')}: ratio ${ratio.toFixed(2)}`);
}

function der(tag: number, content: Buffer): Buffer {
  const length = content.length < 0x80 ? Buffer.from([content.length]) : Buffer.from([0x83, content.length >> 16, (content.length >> 8) & 0xff, content.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const wrongKeys = assembleDecryptionKeys([{ path: 'w.pem', bytes: fixtureKey('jwe', 'wrong-rsa2048.pkcs8.pem') }], new Map());
const jweLayer = loadLayerCase('jwe', 'rsa2048-gzip').descriptor.annotations;
const flattened = JSON.parse(Buffer.from(jweLayer[`${PREFIX}jwe`]!, 'base64').toString());

describe('parser work is linear in the input', () => {
  it('DER: elements of a SEQUENCE, pieces of a constructed OCTET STRING', async () => {
    await assertLinear([1000, 2000, 4000], (n) => childrenOf(readElement(der(0x30, Buffer.alloc(2 * n)))));
    await assertLinear([1000, 2000, 4000], (n) => octetsOf(readElement(der(0x24, Buffer.concat(Array(n).fill(Buffer.from([4, 1, 0])))))));
  });

  it('PKCS#7: EnvelopedData with growing recipient counts and issuer names, read for its recipients', async () => {
    const oid = (hex: string) => der(0x06, Buffer.from(hex, 'hex'));
    const rdn = der(0x31, der(0x30, Buffer.concat([oid('550403'), der(0x0c, Buffer.from('name'))])));
    const envelope = (recipients: number, rdns: number) => {
      const name = der(0x30, Buffer.concat(Array(rdns).fill(rdn)));
      const recipient = der(0x30, Buffer.concat([der(0x02, Buffer.from([0])), der(0x30, Buffer.concat([name, der(0x02, Buffer.from([1]))])), der(0x30, Buffer.concat([oid('2a864886f70d010101'), der(0x05, Buffer.alloc(0))])), der(0x04, Buffer.alloc(256, 1))]));
      const content = der(0x30, Buffer.concat([oid('2a864886f70d010701'), der(0x30, Buffer.concat([oid('60864801650304012a'), der(0x04, Buffer.alloc(16))])), der(0x80, Buffer.alloc(64))]));
      const enveloped = der(0x30, Buffer.concat([der(0x02, Buffer.from([0])), der(0x31, Buffer.concat(Array(recipients).fill(recipient))), content]));
      return der(0x30, Buffer.concat([oid('2a864886f70d010703'), der(0xa0, enveloped)]));
    };
    assert.equal((await pkcs7Scheme.describeRecipients!([envelope(2, 1)])).length, 2);
    await assertLinear([8, 16, 32], (n) => pkcs7Scheme.describeRecipients!([envelope(n, 1)]));
    await assertLinear([100, 200, 400], (n) => pkcs7Scheme.describeRecipients!([envelope(1, n)]));
  });

  it('base64: annotations of growing size, one item and many', async () => {
    await assertLinear([100_000, 200_000, 400_000], (n) => decodeStdBase64('QUJD'.repeat(n / 4)));
    await assertLinear([8, 16, 32], (n) => decodeItems(Array(n).fill('QUJD'.repeat(1000)).join(',')));
  });

  it('JSON and JWE: a growing protected header, and growing recipient counts tried with a key', async () => {
    const padded = (n: number) => {
      const header = JSON.parse(Buffer.from(flattened.protected, 'base64url').toString());
      return Buffer.from(JSON.stringify({ ...flattened, protected: Buffer.from(JSON.stringify({ ...header, pad: 'p'.repeat(n) })).toString('base64url') }));
    };
    await assertLinear([50_000, 100_000, 200_000], (n) => jweScheme.unwrap([padded(n)], wrongKeys).catch(() => {}));
    const { header, encrypted_key, ...shared } = flattened;
    const general = (n: number) => Buffer.from(JSON.stringify({ ...shared, recipients: Array(n).fill({ header, encrypted_key }) }));
    await assertLinear([8, 16, 32], (n) => jweScheme.unwrap([general(n)], wrongKeys).catch(() => {}));
  });

  it('protobuf payload: growing annotations and key parameters', async () => {
    const descriptor = (n: number) => ({ mediaType: 'm', digest: 'd', size: 1, annotations: Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`, 'v'.repeat(100)])) });
    await assertLinear([100, 200, 400], (n) => decodePayload(encodePayload(descriptor(n), { privkeys: Array(n).fill(Buffer.alloc(100)) })));
  });

  it('OpenPGP: growing PKESK counts and a growing encrypted packet, read for their recipients', async () => {
    const pgpItem = Buffer.from(loadLayerCase('pgp', 'alice').descriptor.annotations[`${PREFIX}pgp`]!, 'base64');
    // The PKESK is the item's first packet (new format, one-octet or two-octet length); the rest is the encrypted data.
    const pkeskLength = pgpItem[1]! < 192 ? 2 + pgpItem[1]! : 3 + ((pgpItem[1]! - 192) << 8) + pgpItem[2]! + 192;
    const pkesk = pgpItem.subarray(0, pkeskLength);
    const rest = pgpItem.subarray(pkeskLength);
    await assertLinear([8, 16, 32], (n) => recipientsOf(Buffer.concat([...Array(n).fill(pkesk), rest])));
    const sed = (n: number) => Buffer.concat([Buffer.from([0xc9, 0xff]), Buffer.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), Buffer.alloc(n, 0x33)]);
    await assertLinear([50_000, 100_000, 200_000], (n) => recipientsOf(Buffer.concat([pkesk, sed(n)])));
    await assertLinear([20, 40, 80], (n) => packetLimitProblem(Buffer.concat(Array(n).fill(Buffer.from([0xca, 0x03, 0x50, 0x47, 0x50])))));
  });

  it('PKCS#11 blob: growing recipient counts and ciphertexts', async () => {
    const blob = (count: number, bytes: number) =>
      Buffer.from(JSON.stringify({ version: 0, recipients: Array(count).fill({ version: 0, blob: Buffer.alloc(bytes, 7).toString('base64'), hash: 'sha1' }) }));
    await assertLinear([8, 16, 32], (n) => parseItem(blob(n, 256), 0));
    await assertLinear([50_000, 100_000, 200_000], (n) => parseItem(blob(1, n), 0));
  });
});
