import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DerError,
  childrenOf,
  isContext,
  isUniversal,
  octetsOf,
  oidOf,
  readElement,
  smallIntegerOf,
  unsignedIntegerOf,
  TAG_CLASS,
  UNIVERSAL_TAG,
} from '../../src/keywrap/pkcs7/der.ts';
import { MAX_OID_BYTES } from '../../src/limits.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const NONCE = '000102030405060708090a0b';

describe('tolerant DER/BER reader', () => {
  it('reads the Go encoder\'s GCM parameters: a primitive element tagged SEQUENCE holding the real SEQUENCE', () => {
    const quirk = readElement(hex(`10 13 30 11 84 0c ${NONCE} 02 01 10`));
    assert.ok(isUniversal(quirk, UNIVERSAL_TAG.sequence));
    assert.equal(quirk.constructed, false);
    const [sequence] = childrenOf(quirk);
    assert.ok(sequence !== undefined && sequence.constructed);
    const [nonce, icvLength] = childrenOf(sequence);
    assert.ok(nonce !== undefined && isContext(nonce, 4));
    assert.equal(octetsOf(nonce).toString('hex'), NONCE);
    assert.equal(smallIntegerOf(icvLength!), 16);
  });

  it('reads the standard RFC 5084 GCMParameters', () => {
    const standard = readElement(hex(`30 11 04 0c ${NONCE} 02 01 10`));
    assert.ok(standard.constructed);
    const [nonce, icvLength] = childrenOf(standard);
    assert.ok(isUniversal(nonce!, UNIVERSAL_TAG.octetString));
    assert.equal(octetsOf(nonce!).toString('hex'), NONCE);
    assert.equal(smallIntegerOf(icvLength!), 16);
  });

  it('joins constructed OCTET STRING pieces, as `A0 { 04 .. 04 .. }` content is written', () => {
    const content = readElement(hex('a0 0c 04 03 616263 24 03 04 01 64 04 00'));
    assert.ok(isContext(content, 0) && content.constructed);
    assert.equal(octetsOf(content).toString(), 'abcd');
    assert.equal(octetsOf(readElement(hex('80 03 616263'))).toString(), 'abc');
  });

  it('refuses a constructed string holding something other than OCTET STRINGs', () => {
    assert.throws(() => octetsOf(readElement(hex('a0 03 02 01 05'))), DerError);
  });

  it('reads indefinite lengths up to the end-of-contents marker', () => {
    const element = readElement(hex('30 80 04 02 6869 a0 80 04 01 21 00 00 00 00'));
    assert.equal(element.element.length, 15);
    assert.equal(element.content.toString('hex'), '04026869a0800401210000');
    const [first, second] = childrenOf(element);
    assert.equal(octetsOf(first!).toString(), 'hi');
    assert.equal(octetsOf(second!).toString(), '!');
  });

  it('reads long-form and non-minimal lengths, and high tag numbers', () => {
    const long = readElement(Buffer.concat([hex('04 82 01 00'), Buffer.alloc(256, 7)]));
    assert.equal(long.content.length, 256);
    assert.equal(readElement(hex('04 81 01 ff')).content.toString('hex'), 'ff');
    const high = readElement(hex('bf 81 00 00'));
    assert.equal(high.tagClass, TAG_CLASS.context);
    assert.equal(high.tagNumber, 128);
  });

  it('refuses elements that run past their container, trailing bytes and primitive indefinite lengths', () => {
    assert.throws(() => readElement(hex('04 05 6869')), /past the end/);
    assert.throws(() => childrenOf(readElement(hex('30 03 04 05 00'))), /past the end/);
    assert.throws(() => readElement(hex('04 01 68 00')), /trailing/);
    assert.throws(() => readElement(hex('04 80 68 00 00')), /indefinite length on a primitive/);
    assert.throws(() => readElement(hex('30 80 04 01 68')), /past the end/);
    assert.throws(() => readElement(hex('04 85 01 00 00 00 00')), /too large/);
    assert.throws(() => readElement(Buffer.alloc(0)), /past the end/);
  });

  it('refuses nesting deeper than any CMS structure', () => {
    const deep = Buffer.concat([Buffer.from('3080'.repeat(40), 'hex'), Buffer.alloc(80)]);
    assert.throws(() => readElement(deep), /too deeply/);
  });

  it('decodes OBJECT IDENTIFIERs', () => {
    assert.equal(oidOf(readElement(hex('06 09 60 86 48 01 65 03 04 01 06'))), '2.16.840.1.101.3.4.1.6');
    assert.equal(oidOf(readElement(hex('06 09 2a 86 48 86 f7 0d 01 07 03'))), '1.2.840.113549.1.7.3');
    assert.equal(oidOf(readElement(hex('06 03 55 1d 0e'))), '2.5.29.14');
    assert.equal(oidOf(readElement(hex('06 02 88 37'))), '2.999');
    assert.throws(() => oidOf(readElement(hex('06 02 2a 86'))), /ends inside an arc/);
    assert.throws(() => oidOf(readElement(hex('04 01 2a'))), /OBJECT IDENTIFIER/);
  });

  it('compares INTEGER magnitudes without sign padding', () => {
    assert.equal(unsignedIntegerOf(readElement(hex('02 03 00 80 01'))).toString('hex'), '8001');
    assert.equal(unsignedIntegerOf(readElement(hex('02 01 00'))).toString('hex'), '00');
    assert.equal(smallIntegerOf(readElement(hex('02 01 0c'))), 12);
    assert.throws(() => smallIntegerOf(readElement(hex('02 01 ff'))), /out of range/);
  });
});

describe('OBJECT IDENTIFIER limits (issue 12: one BigInt per arc byte made long OIDs quadratic)', () => {
  const oid = (content: Buffer): Buffer => Buffer.concat([Buffer.from([0x06, 0x82, content.length >> 8, content.length & 0xff]), content]);

  it(`reads an OID of ${MAX_OID_BYTES} content bytes and refuses one of ${MAX_OID_BYTES + 1}, naming the limit`, () => {
    const longest = Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(MAX_OID_BYTES - 1, 0x01)]);
    assert.equal(oidOf(readElement(oid(longest))), `1.2${'.1'.repeat(MAX_OID_BYTES - 1)}`);
    const tooLong = Buffer.concat([longest, Buffer.from([0x01])]);
    assert.throws(() => oidOf(readElement(oid(tooLong))), { name: 'Error', message: `OBJECT IDENTIFIER of ${MAX_OID_BYTES + 1} bytes (limit ${MAX_OID_BYTES})` });
  });

  it('refuses the issue\'s 100K-byte arc at once, and any arc past 2^53', () => {
    const hostile = Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(100_000, 0x81), Buffer.from([0x01])]);
    assert.throws(() => oidOf(readElement(oid(hostile))), DerError);
    // 2^53 - 1 is eight 7-bit groups: 0x0f then seven 0x7f; one more bit does not fit.
    const largest = Buffer.from([0x2a, 0x8f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert.equal(oidOf(readElement(oid(largest))), `1.2.${Number.MAX_SAFE_INTEGER}`);
    const past = Buffer.from([0x2a, 0x90, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert.throws(() => oidOf(readElement(oid(past))), { message: 'OBJECT IDENTIFIER arc larger than 2^53' });
  });

  it('splits a large first arc as X.690 says (2.N for N >= 40)', () => {
    assert.equal(oidOf(readElement(oid(Buffer.from([0x88, 0x37, 0x03])))), '2.999.3');
  });
});
