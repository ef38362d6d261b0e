import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyProviderConfigError } from '../../src/errors.ts';
import {
  UNWRAP_KEY_PATH,
  encodeUnaryRequest,
  interpretUnaryOutcome,
  onlyBytesField,
  onlyMessage,
  unaryRequestHeaders,
  type Http2Outcome,
} from '../../src/keywrap/key-provider/grpc.ts';

const frame = (message: Buffer, flag = 0) => {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
};
const REPLY_JSON = Buffer.from('{"keyunwrapresults":{"optsdata":"e30="}}');
const replyMessage = Buffer.concat([Buffer.from([0x0a, REPLY_JSON.length]), REPLY_JSON]);

describe('gRPC request', () => {
  it('one uncompressed length-prefixed message: field 1, bytes', () => {
    assert.deepEqual(encodeUnaryRequest(Buffer.from('{}')), Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x7b, 0x7d]));
  });

  it('lengths of 128 and more take a multi-byte varint', () => {
    const json = Buffer.alloc(300, 0x20);
    const encoded = encodeUnaryRequest(json);
    assert.deepEqual(encoded.subarray(0, 8), Buffer.from([0, 0, 0, 0x01, 0x2f, 0x0a, 0xac, 0x02]));
    assert.equal(encoded.length, 5 + 3 + 300);
  });

  it('headers: POST to KeyProviderService/UnWrapKey, gRPC content type, trailers, our deadline', () => {
    assert.deepEqual(unaryRequestHeaders(30_000), {
      ':method': 'POST',
      ':path': '/keyprovider.KeyProviderService/UnWrapKey',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': '30000m',
      'user-agent': 'ctd-decoder',
    });
    assert.equal(UNWRAP_KEY_PATH, '/keyprovider.KeyProviderService/UnWrapKey');
  });
});

describe('gRPC reply framing', () => {
  it('one message, its field 1', () => {
    assert.deepEqual(onlyBytesField(onlyMessage(frame(replyMessage))), REPLY_JSON);
  });

  it('unknown fields of every wire type are skipped; the last field 1 wins; absent field 1 is empty', () => {
    const message = Buffer.concat([
      Buffer.from([0x0a, 1, 0x78]), // field 1 "x", overridden below
      Buffer.from([0x10, 0x96, 0x01]), // field 2 varint
      Buffer.from([0x19, 1, 2, 3, 4, 5, 6, 7, 8]), // field 3 fixed64
      Buffer.from([0x22, 2, 0x61, 0x62]), // field 4 bytes
      Buffer.from([0x2d, 1, 2, 3, 4]), // field 5 fixed32
      replyMessage,
    ]);
    assert.deepEqual(onlyBytesField(message), REPLY_JSON);
    assert.deepEqual(onlyBytesField(Buffer.from([0x10, 1])), Buffer.alloc(0));
  });

  for (const [what, body, message] of [
    ['an empty body', Buffer.alloc(0), /no message/],
    ['a cut prefix', Buffer.from([0, 0, 0]), /truncated message prefix/],
    ['a cut message', frame(replyMessage).subarray(0, 20), /truncated message/],
    ['two messages', Buffer.concat([frame(replyMessage), frame(replyMessage)]), /more than one message/],
    ['a compressed message', frame(replyMessage, 1), /compressed/],
  ] as const) {
    it(`${what} is refused`, () => assert.throws(() => onlyMessage(body), message));
  }

  for (const [what, message, error] of [
    ['a length past the end', Buffer.from([0x0a, 5, 0x61]), /truncated protobuf/],
    ['a cut varint', Buffer.from([0x10, 0x80]), /truncated protobuf/],
    ['a group wire type', Buffer.from([0x0b]), /wire type 3/],
    ['an endless varint', Buffer.from([0x10, ...new Array(11).fill(0xff)]), /varint too long/],
  ] as const) {
    it(`protobuf with ${what} is refused`, () => assert.throws(() => onlyBytesField(message), error));
  }
});

describe('gRPC outcomes', () => {
  const response = (fields: { status?: number; headers?: Record<string, string>; trailers?: Record<string, string>; body?: Buffer }): Http2Outcome => ({
    kind: 'response',
    status: fields.status ?? 200,
    headers: { 'content-type': 'application/grpc', ...fields.headers },
    trailers: fields.trailers ?? { 'grpc-status': '0' },
    body: fields.body ?? frame(replyMessage),
  });
  const interpret = (outcome: Http2Outcome) => interpretUnaryOutcome(outcome, 5000);

  it('status 0 in the trailers: the reply JSON', () => {
    assert.deepEqual(interpret(response({})), { reply: REPLY_JSON });
    assert.deepEqual(interpret(response({ headers: { 'content-type': 'application/grpc+proto' } })), { reply: REPLY_JSON });
  });

  it('a trailers-only error: status name, code and the percent-decoded message, one line', () => {
    const outcome = response({
      headers: { 'grpc-status': '7', 'grpc-message': 'attestation%20failed%0Atry%20later%3A%20100%25' },
      trailers: {},
      body: Buffer.alloc(0),
    });
    assert.deepEqual(interpret(outcome), { failure: 'status PERMISSION_DENIED (7): "attestation failed try later: 100%"', unreachable: false });
  });

  it('UNIMPLEMENTED and UNAVAILABLE say the service is the problem: no further items are tried', () => {
    assert.deepEqual(interpret(response({ trailers: { 'grpc-status': '12' } })), { failure: 'status UNIMPLEMENTED (12)', unreachable: true });
    assert.deepEqual(interpret(response({ trailers: { 'grpc-status': '14', 'grpc-message': '%zz' } })), { failure: 'status UNAVAILABLE (14): "%zz"', unreachable: true });
    assert.deepEqual(interpret(response({ trailers: { 'grpc-status': '99' } })), { failure: 'status "99"', unreachable: false });
    assert.deepEqual(interpret(response({ trailers: { 'grpc-status': '' } })), { failure: 'status ""', unreachable: false });
  });

  it('not gRPC: HTTP status, content type, no grpc-status', () => {
    assert.deepEqual(interpret(response({ status: 404 })), { failure: 'HTTP status 404: not a gRPC service', unreachable: true });
    assert.deepEqual(interpret(response({ headers: { 'content-type': 'text/html' } })), { failure: 'reply is not gRPC (content-type "text/html")', unreachable: true });
    assert.deepEqual(interpret(response({ trailers: {} })), { failure: 'reply carries no grpc-status', unreachable: false });
  });

  it('a malformed message', () => {
    assert.deepEqual(interpret(response({ body: frame(replyMessage, 1) })), { failure: 'reply is malformed (compressed message, which was not asked for)', unreachable: false });
  });

  it('transport failures', () => {
    assert.deepEqual(interpret({ kind: 'connect-failed', code: 'ECONNREFUSED' }), { failure: 'not reachable (ECONNREFUSED)', unreachable: true });
    assert.deepEqual(interpret({ kind: 'tls-failed', code: 'CERT_HAS_EXPIRED' }), { failure: 'TLS handshake failed (CERT_HAS_EXPIRED)', unreachable: true });
    assert.deepEqual(interpret({ kind: 'stream-failed', code: 'ERR_HTTP2_GOAWAY_SESSION' }), { failure: 'the call failed (ERR_HTTP2_GOAWAY_SESSION)', unreachable: true });
    assert.deepEqual(interpret({ kind: 'timed-out' }), { failure: 'gave no reply within 5000 ms', unreachable: true });
    assert.deepEqual(interpret({ kind: 'too-large' }), { failure: 'replied with more than 1048576 bytes', unreachable: false });
  });

  it('an unreadable grpc-tls file is a configuration error', () => {
    assert.throws(
      () => interpret({ kind: 'tls-file-unreadable', setting: 'key-file', path: '/etc/k.pem', code: 'EACCES' }),
      (error: unknown) => error instanceof KeyProviderConfigError && error.message === 'cannot read grpc-tls key-file /etc/k.pem (EACCES)',
    );
  });
});
