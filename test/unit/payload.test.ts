import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PayloadInvalidError } from '../../src/errors.ts';
import { type Payload, decodePayload } from '../../src/payload/payload.ts';
import { decodeAny } from '../../src/payload/protobuf-any.ts';
import { PAYLOAD_TYPE_URL, encodeAny, encodePayload } from '../support/payload.ts';

const descriptor = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted',
  digest: 'sha256:' + 'ab'.repeat(32),
  size: 123,
  annotations: { 'org.opencontainers.image.enc.keys.jwe': 'e30=' },
};

describe('protobuf Any', () => {
  it('reads type_url and value, skipping unknown fields of every wire type', () => {
    const any = Buffer.concat([
      Buffer.from([0x18, 0x96, 0x01]), // field 3 varint
      Buffer.from([0x21, 1, 2, 3, 4, 5, 6, 7, 8]), // field 4 fixed64
      encodeAny('t', Buffer.from('v')),
      Buffer.from([0x2d, 1, 2, 3, 4]), // field 5 fixed32
    ]);
    const decoded = decodeAny(any);
    assert.equal(decoded.typeUrl, 't');
    assert.equal(Buffer.from(decoded.value).toString(), 'v');
  });

  it('rejects lengths that run past the end and bad wire types', () => {
    assert.throws(() => decodeAny(Buffer.from([0x0a, 0x05, 0x61])), /past the end/);
    assert.throws(() => decodeAny(Buffer.from([0x0b])), /wire type/);
    assert.throws(() => decodeAny(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), /varint/);
  });
});

describe('payload', () => {
  it('decodes imgcrypt\'s Payload with keys and descriptor', () => {
    const payload = describedPayload(encodePayload(descriptor, { privkeys: [Buffer.from('key')], 'privkeys-passwords': [null] }));
    assert.equal(payload.descriptor.digest, descriptor.digest);
    assert.equal(payload.descriptor.mediaType, descriptor.mediaType);
    assert.equal(payload.descriptor.size, 123);
    assert.equal(payload.descriptor.annotations.get('org.opencontainers.image.enc.keys.jwe'), 'e30=');
    assert.deepEqual(payload.parameters.get('privkeys'), [Buffer.from('key')]);
    assert.deepEqual(payload.parameters.get('privkeys-passwords'), [null]);
  });

  it('accepts null and empty Parameters, as CRI and nerdctl send', () => {
    assert.equal(describedPayload(encodePayload(descriptor, null)).parameters.size, 0);
    assert.equal(describedPayload(encodePayload(descriptor, {})).parameters.size, 0);
    const noConfig = encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify({ DecryptConfig: null, Descriptor: descriptor })));
    assert.equal(describedPayload(noConfig).parameters.size, 0);
  });

  it('matches field names case-insensitively and ignores unknown fields, like Go', () => {
    const json = JSON.stringify({
      decryptconfig: { PARAMETERS: { privkeys: ['a2V5'] } },
      descriptor: { MediaType: 'm', DIGEST: 'sha256:00', annotations: {}, extra: 1 },
      Unknown: true,
    });
    const payload = describedPayload(encodeAny(PAYLOAD_TYPE_URL, Buffer.from(json)));
    assert.equal(payload.descriptor.mediaType, 'm');
    assert.equal(payload.descriptor.digest, 'sha256:00');
    assert.deepEqual(payload.parameters.get('privkeys'), [Buffer.from('key')]);
  });

  it('accepts a type URL with a type.googleapis.com/ prefix', () => {
    const bytes = encodeAny('type.googleapis.com/' + PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify({ Descriptor: descriptor })));
    assert.equal(describedPayload(bytes).descriptor.digest, descriptor.digest);
  });

  for (const [name, bytes, pattern] of [
    ['wrong type URL', encodeAny('io.example.Other', Buffer.from('{}')), /has type "io.example.Other"/],
    ['not protobuf', Buffer.from([0x0f, 0x00]), /not a protobuf Any/],
    ['bad JSON', encodeAny(PAYLOAD_TYPE_URL, Buffer.from('{"Descriptor":')), /not valid JSON/],
    ['bad base64 key', encodePayloadRaw({ privkeys: ['not base64!'] }), /not valid base64/],
    ['parameter not an array', encodePayloadRaw({ privkeys: 'a2V5' }), /must be an array/],
    ['annotation not a string', encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify({ Descriptor: { annotations: { a: 1 } } }))), /must be a string/],
  ] as const) {
    it(`rejects ${name} with ERR_PAYLOAD_INVALID`, () => {
      assert.throws(() => decodePayload(bytes), (error: unknown) => {
        assert.ok(error instanceof PayloadInvalidError);
        assert.equal(error.code, 'ERR_PAYLOAD_INVALID');
        assert.match(error.message, pattern);
        return true;
      });
    });
  }
});

function encodePayloadRaw(parameters: unknown): Buffer {
  return encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify({ DecryptConfig: { Parameters: parameters }, Descriptor: descriptor })));
}

/** A payload that names its layer (payload-less forms: content-store-lookup.test.ts). */
function describedPayload(bytes: Uint8Array): Payload {
  const payload = decodePayload(bytes);
  assert.notEqual(payload.descriptor, null, 'the payload names no layer');
  return payload as Payload;
}
