import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeStdBase64 } from '../../src/encoding/base64.ts';

/** Go's StdEncoding grammar as a regular expression: fine as an oracle for short text, never for image bytes. */
const GRAMMAR = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

describe('standard base64', () => {
  it('accepts exactly what the padded standard grammar accepts, and decodes it', () => {
    const alphabetish = fc.string({ unit: fc.constantFrom(...'AZaz09+/=-_ \r\n.\u00e9'.split('')), maxLength: 24 });
    fc.assert(
      fc.property(fc.oneof(alphabetish, fc.base64String({ maxLength: 40 }), fc.string({ maxLength: 24 })), (text) => {
        const compact = text.replace(/[\r\n]/g, '');
        const decoded = decodeStdBase64(text);
        assert.equal(decoded !== null, GRAMMAR.test(compact), JSON.stringify(text));
        if (decoded !== null) assert.deepEqual(decoded, Buffer.from(compact, 'base64'));
      }),
      { numRuns: 3000 },
    );
  });

  it('checks 16 MiB of base64 (the payload limit) without a regexp stack overflow (issue 12)', () => {
    const bytes = Buffer.alloc(12 * 1024 * 1024, 0xa5);
    const text = bytes.toString('base64');
    assert.deepEqual(decodeStdBase64(text), bytes);
    assert.equal(decodeStdBase64(`${text.slice(0, -4)}!AAA`), null);
    assert.equal(decodeStdBase64(`${text}=`), null);
  });
});
