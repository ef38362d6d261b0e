// The one protobuf reader and writer (src/encoding/protobuf.ts), and the two
// messages built on it: containerd's payload Any and the key-provider gRPC
// reply, which must read the same bytes the same way.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtobufError, encodeLengthDelimited, lengthDelimitedFields } from '../../src/encoding/protobuf.ts';
import { interpretUnaryOutcome } from '../../src/keywrap/key-provider/grpc.ts';
import { decodeAny } from '../../src/payload/protobuf-any.ts';

const frame = (message: Buffer) => {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
};

describe('protobuf wire format', () => {
  it('writes and reads back length-delimited fields, multi-byte varints included', () => {
    const long = Buffer.alloc(20_000, 0x61);
    const message = Buffer.concat([encodeLengthDelimited(1, Buffer.from('a')), encodeLengthDelimited(300, long), encodeLengthDelimited(1, Buffer.alloc(0))]);
    assert.deepEqual(message.subarray(0, 3), Buffer.from([0x0a, 1, 0x61]));
    const fields = lengthDelimitedFields(message);
    assert.deepEqual(
      fields.map(({ fieldNumber, content }) => [fieldNumber, content.length]),
      [[1, 1], [300, 20_000], [1, 0]],
    );
    assert.ok(Buffer.isBuffer(fields[1]!.content), 'a Buffer in, Buffer views out');
    assert.deepEqual(fields[1]!.content, long);
  });

  it('skips varint, fixed64 and fixed32 fields', () => {
    const message = Buffer.concat([Buffer.from([0x08, 0xff, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1d, 1, 2, 3, 4]), encodeLengthDelimited(4, Buffer.from('z'))]);
    assert.deepEqual(lengthDelimitedFields(message), [{ fieldNumber: 4, content: Buffer.from('z') }]);
  });

  for (const [what, message, error] of [
    ['a length past the end', [0x0a, 5, 0x61], /^truncated protobuf: a field runs past the end$/],
    ['a fixed64 past the end', [0x09, 1, 2], /^truncated protobuf: a field runs past the end$/],
    ['a fixed32 past the end', [0x0d, 1], /^truncated protobuf: a field runs past the end$/],
    ['a cut varint', [0x08, 0x80], /^truncated protobuf: a varint runs past the end$/],
    ['a group', [0x0b], /^protobuf wire type 3 is not supported$/],
    ['wire type 7', [0x0f], /^protobuf wire type 7 is not supported$/],
    ['a varint of 11 bytes', [0x08, ...new Array(10).fill(0xff), 0x01], /^protobuf varint too long$/],
    ['a length beyond 2^53', [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], /^protobuf varint beyond 2\^53$/],
  ] as const) {
    it(`refuses ${what}, in the payload Any and in a gRPC reply alike`, () => {
      const bytes = Buffer.from(message);
      assert.throws(() => lengthDelimitedFields(bytes), (thrown: Error) => thrown instanceof ProtobufError && error.test(thrown.message));
      assert.throws(() => decodeAny(bytes), (thrown: Error) => thrown instanceof ProtobufError && error.test(thrown.message));
      const reply = { kind: 'response', status: 200, headers: { 'content-type': 'application/grpc' }, trailers: { 'grpc-status': '0' }, body: frame(bytes) } as const;
      const result = interpretUnaryOutcome(reply, 1000);
      assert.ok('failure' in result && result.failure.startsWith('reply is malformed (') && error.test(result.failure.slice('reply is malformed ('.length, -1)), JSON.stringify(result));
    });
  }
});
