// Just enough gRPC for the e2e suite: unary calls over a unix socket on
// node:http2 (frame = 1 byte compressed flag + 4 byte big-endian length +
// message), and a hand-written protobuf encoder/decoder for the few messages
// the suite sends and reads.

import * as http2 from 'node:http2';
import * as net from 'node:net';

const WIRE_VARINT = 0;
const WIRE_64BIT = 1;
const WIRE_LEN = 2;
const WIRE_32BIT = 5;

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A length-delimited field (string, bytes, embedded message). */
export function lenField(field: number, body: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | WIRE_LEN), varint(body.length), body]);
}

export function stringField(field: number, s: string): Buffer {
  return lenField(field, Buffer.from(s, 'utf8'));
}

/** A map<string, string> field: one embedded {key = 1, value = 2} entry per pair. */
export function mapField(field: number, map: Record<string, string>): Buffer {
  return Buffer.concat(Object.entries(map).map(([k, v]) => lenField(field, Buffer.concat([stringField(1, k), stringField(2, v)]))));
}

export type FieldValue = Buffer | number;

/** The fields of one message: field number -> values in order (length-delimited ones as bytes). */
export function parseMessage(buf: Buffer): Map<number, FieldValue[]> {
  const fields = new Map<number, FieldValue[]>();
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('protobuf: truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
  };
  const take = (n: number): Buffer => {
    if (pos + n > buf.length) throw new Error('protobuf: truncated field');
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: FieldValue;
    if (wire === WIRE_VARINT) value = readVarint();
    else if (wire === WIRE_LEN) value = take(readVarint());
    else if (wire === WIRE_64BIT) value = take(8);
    else if (wire === WIRE_32BIT) value = take(4);
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

/** All values of a string/bytes field, as UTF-8 strings. */
export function strings(fields: Map<number, FieldValue[]>, field: number): string[] {
  return (fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
}

/** A call that ended with a non-zero grpc-status; `message` is the decoded grpc-message. */
export class GrpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'GrpcError';
    this.code = code;
  }
}

function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const s = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(s); // grpc-message is percent-encoded
  } catch {
    return s;
  }
}

/**
 * One unary call over a unix socket; resolves with the response message,
 * rejects with GrpcError when the server answers with a non-zero
 * grpc-status (in the trailers, or in the headers of a trailers-only reply).
 */
export function unaryCall(
  socket: string,
  method: string,
  request: Buffer,
  opts: { timeoutMs: number; metadata?: Record<string, string> },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    let settled = false;
    const finish = (err: Error | null, value?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new Error(`gRPC ${method}: no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    session.on('error', (err) => finish(err));

    const stream = session.request({
      ':method': 'POST',
      ':path': method,
      ':authority': 'localhost',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}S`,
      ...opts.metadata,
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt8(0, 0); // not compressed
    prefix.writeUInt32BE(request.length, 1);
    stream.end(Buffer.concat([prefix, request]));

    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const takeStatus = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (s === undefined) return;
      status = Array.isArray(s) ? s[0] : s;
      message = decodeGrpcMessage(h['grpc-message']);
    };
    stream.on('response', (headers) => {
      if (headers[':status'] !== 200) {
        finish(new Error(`gRPC ${method}: HTTP status ${headers[':status']}`));
        return;
      }
      takeStatus(headers);
    });
    stream.on('trailers', takeStatus);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (err) => finish(err));
    stream.on('close', () => {
      if (status === undefined) {
        finish(new Error(`gRPC ${method}: stream closed without grpc-status (RST code ${stream.rstCode})`));
      } else if (status !== '0') {
        finish(new GrpcError(Number(status), message));
      } else {
        const body = Buffer.concat(chunks);
        if (body.length === 0) finish(null, Buffer.alloc(0)); // an empty message may come without a frame
        else if (body.length < 5 || body.readUInt8(0) !== 0) finish(new Error(`gRPC ${method}: malformed or compressed response`));
        else finish(null, body.subarray(5, 5 + body.readUInt32BE(1)));
      }
    });
  });
}
