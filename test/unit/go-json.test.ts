import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStdBase64 } from '../../src/encoding/base64.ts';
import { GoJsonError, bytesValue, field } from '../../src/encoding/go-json.ts';

describe('standard base64 as Go decodes it', () => {
  it('decodes padded text and ignores CR/LF', () => {
    assert.deepEqual(decodeStdBase64('a2V5'), Buffer.from('key'));
    assert.deepEqual(decodeStdBase64('a2V5cw==\r\n'), Buffer.from('keys'));
    assert.deepEqual(decodeStdBase64(''), Buffer.alloc(0));
  });
  it('rejects what Node would silently skip', () => {
    for (const bad of ['a2V5cw', 'a2V*', 'a2V5cw=', '====', 'a2V5 ', '-_8=']) assert.equal(decodeStdBase64(bad), null, bad);
  });
});

describe('Go struct field lookup', () => {
  it('prefers an exact match, then folds case', () => {
    assert.equal(field({ Hmac: 1, hmac: 2 }, 'hmac'), 2);
    assert.equal(field({ HMAC: 1 }, 'hmac'), 1);
    assert.equal(field({}, 'hmac'), undefined);
  });
  it('reads []byte as base64 or a number array', () => {
    assert.deepEqual(bytesValue('AQI=', 'x'), Buffer.from([1, 2]));
    assert.deepEqual(bytesValue([1, 2, 255], 'x'), Buffer.from([1, 2, 255]));
    assert.equal(bytesValue(null, 'x'), undefined);
    assert.throws(() => bytesValue([256], 'x'), GoJsonError);
    assert.throws(() => bytesValue(5, 'x'), GoJsonError);
  });
});
