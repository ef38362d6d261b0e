// Text the decoder did not write, on its way to the one stderr line or the
// operator's terminal: one rule (src/encoding/untrusted-text.ts) wherever it
// is shown, and the error line itself as the last line of defence.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_ERROR_LINE, errorLine } from '../../src/decode/error-line.ts';
import { GoJsonError, bytesMapField } from '../../src/encoding/go-json.ts';
import { printable, quoteUntrusted } from '../../src/encoding/untrusted-text.ts';
import { AnnotationError, ImageError } from '../../src/errors.ts';
import { keyProviderScheme } from '../../src/keywrap/key-provider.ts';
import { parseDescriptor } from '../../src/operator/oci/image.ts';
import { systemKeyProviderHost } from '../../src/platform/key-provider-host.ts';

const HOSTILE = 'x\u001b[2J\u001b[31mFAKE\r\nctd-decoder: forged line\u009b31m\u007f\u2028\u2029';
/** Bidi overrides and isolates, zero-width and BOM, a plane-14 tag, private use, unassigned: they reorder or hide text. */
const INVISIBLE = 'a\u202Eevil\u2066b\u2069\u200B\uFEFF\u{E0041}\uE000\u0378z';
/** What may never reach a terminal or a log line as it is. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/u;

describe('quoteUntrusted', () => {
  it('quotes and escapes every control and separator character, C1, DEL and U+2028/U+2029 included', () => {
    const quoted = quoteUntrusted(HOSTILE, 1000);
    assert.doesNotMatch(quoted, UNSAFE);
    assert.equal(quoted, '"x\\u001b[2J\\u001b[31mFAKE\\r\\nctd-decoder: forged line\\u009b31m\\u007f\\u2028\\u2029"');
  });

  it('escapes bidi, format, private-use and unassigned characters, both halves of an astral one (issue 12)', () => {
    const quoted = quoteUntrusted(INVISIBLE, 1000);
    assert.doesNotMatch(quoted, UNSAFE);
    assert.equal(quoted, '"a\\u202eevil\\u2066b\\u2069\\u200b\\ufeff\\udb40\\udc41\\ue000\\u0378z"');
  });

  it('cuts long text with an ellipsis, never between the halves of a surrogate pair', () => {
    assert.equal(quoteUntrusted('abcdef', 3), '"abc…"');
    assert.equal(quoteUntrusted('ab😀cd', 3), '"ab…"');
    assert.equal(quoteUntrusted('ab😀cd', 4), '"ab😀…"');
  });
});

describe('printable', () => {
  it('folds control characters, separators and white space runs to one space', () => {
    assert.equal(printable('  error:\n\tkey\r\nrevoked\u0000\u2028now  '), 'error: key revoked now');
    assert.equal(printable('evil\x1b[2Jname\n'), 'evil [2Jname');
    assert.doesNotMatch(printable(HOSTILE), UNSAFE);
  });

  it('folds bidi and invisible characters like control characters (issue 12)', () => {
    assert.equal(printable(INVISIBLE), 'a evil b z');
  });

  it('cuts long text', () => {
    assert.equal(printable('abc def ghi', 4), 'abc…');
    assert.equal(printable('x'.repeat(300)).length, 201);
  });
});

describe('the error line', () => {
  it('folds whatever control characters a message carries into one line', () => {
    const line = errorLine(new AnnotationError(`bad ${HOSTILE}`, 'hint\nwith a break'), `sha256:${'ab'.repeat(32)}`);
    assert.doesNotMatch(line, UNSAFE);
    assert.match(line, /^ctd-decoder: ERR_BAD_ANNOTATION layer sha256:a[ab]+: bad x \[2J \[31mFAKE ctd-decoder: forged line 31m — hint with a break$/);
  });

  it('carries no bidi control from a message: a line cannot be visually reordered', () => {
    const line = errorLine(new AnnotationError(`digest sha256:\u202E${'ab'.repeat(4)}\u2066x`), null);
    assert.doesNotMatch(line, UNSAFE);
  });

  it(`is cut at ${MAX_ERROR_LINE} characters`, () => {
    const line = errorLine(new AnnotationError('y'.repeat(100_000)), null);
    assert.equal(line.length, MAX_ERROR_LINE + 1);
    assert.ok(line.endsWith('…'));
    assert.doesNotMatch(errorLine(new Error(`internal ${HOSTILE}`), null), UNSAFE);
  });
});

describe('image text in messages is quoted', () => {
  it('a key provider named by the annotation key', () => {
    const hostile = keyProviderScheme('x\u001b[2J\u001b[31mFAKE', systemKeyProviderHost()).checkKeys({} as never);
    assert.ok(!hostile.canTry && hostile.missing.startsWith('key provider "x\\u001b[2J\\u001b[31mFAKE" is not configured'), JSON.stringify(hostile));
    const bidi = keyProviderScheme('good\u202Edab', systemKeyProviderHost()).checkKeys({} as never);
    assert.ok(!bidi.canTry && bidi.missing.startsWith('key provider "good\\u202edab" is not configured'), JSON.stringify(bidi));
    const long = keyProviderScheme('p'.repeat(10_000), systemKeyProviderHost()).checkKeys({} as never);
    assert.ok(!long.canTry && long.missing.length < 200);
  });

  it('a cipheroptions key of the layer options', () => {
    const json = { cipheroptions: { [`nonce${HOSTILE}`]: 'not base64!' } };
    assert.throws(
      () => bytesMapField(json, 'cipheroptions', 'pubopts'),
      (error: Error) => error instanceof GoJsonError && !UNSAFE.test(error.message) && error.message.startsWith('pubopts.cipheroptions["noncex\\u001b[2J'),
    );
  });

  it('an annotation key of a descriptor', () => {
    const descriptor = { mediaType: 'm', digest: `sha256:${'0'.repeat(64)}`, size: 1, annotations: { [HOSTILE]: 1 } };
    assert.throws(
      () => parseDescriptor(descriptor, 'layer'),
      (error: Error) => error instanceof ImageError && !UNSAFE.test(error.message) && error.message.startsWith('layer annotation "x\\u001b[2J'),
    );
  });
});
