import { ProtobufError, encodeLengthDelimited, lengthDelimitedFields } from '../../encoding/protobuf.ts';
import { KeyProviderConfigError } from '../../errors.ts';
import { printable, quoteUntrusted } from '../../encoding/untrusted-text.ts';
import type { GrpcTlsSettings } from './config.ts';
import type { ProviderCallResult } from './protocol.ts';

/**
 * The gRPC side of ocicrypt's key-provider protocol, without a gRPC library:
 * one unary call, `keyprovider.KeyProviderService/UnWrapKey`, whose request
 * and reply messages each hold one `bytes` field (number 1) carrying the same
 * JSON as the command protocol. This file is the wire format only; the HTTP/2
 * exchange itself is src/platform/key-provider-http2.ts.
 */
export const UNWRAP_KEY_PATH = '/keyprovider.KeyProviderService/UnWrapKey';

/** The reply is a few hundred bytes; a limit keeps a confused server from filling memory. */
export const MAX_GRPC_REPLY_BYTES = 1024 * 1024;

export type GrpcEndpoint =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

const ADDRESS_FORMS = '"host:port", "[ipv6]:port", "dns:///host:port", "unix:/path" or "unix:///path"';

/** The address forms grpc-go dials that make sense for a local key provider. */
export function parseGrpcAddress(address: string): GrpcEndpoint {
  if (address.startsWith('unix:')) {
    const path = address.startsWith('unix://') ? address.slice('unix://'.length) : address.slice('unix:'.length);
    if (path === '' || (address.startsWith('unix://') && !path.startsWith('/'))) throw badAddress(address, 'no socket path');
    return { kind: 'unix', path };
  }
  const hostPort = address.startsWith('dns:///') ? address.slice('dns:///'.length) : address;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]]*)):([0-9]{1,5})$/.exec(hostPort);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65535)) throw badAddress(address, 'expected a host and port');
  return { kind: 'tcp', host: match[1] ?? (match[2] || 'localhost'), port };
}

function badAddress(address: string, why: string): KeyProviderConfigError {
  return new KeyProviderConfigError(
    `key-provider gRPC address ${quoteUntrusted(address, 100)} is not usable (${why})`,
    `write it as ${ADDRESS_FORMS} in the file named by OCICRYPT_KEYPROVIDER_CONFIG`,
  );
}

/** Request headers besides the pseudo-headers HTTP/2 fills in from the connection. */
export function unaryRequestHeaders(timeoutMs: number): Record<string, string> {
  return {
    ':method': 'POST',
    ':path': UNWRAP_KEY_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${timeoutMs}m`,
    'user-agent': 'ctd-decoder',
  };
}

/** The length-prefixed message: flag byte 0 (not compressed), 4-byte big-endian length, protobuf. */
export function encodeUnaryRequest(json: Buffer): Buffer {
  const protobuf = encodeLengthDelimited(1, json);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(protobuf.length, 1);
  return Buffer.concat([prefix, protobuf]);
}

/** One unary call as the platform's HTTP/2 client makes it. */
export interface Http2UnaryRequest {
  endpoint: GrpcEndpoint;
  /** null: plaintext HTTP/2 (h2c), as grpc-go's insecure credentials. */
  tls: GrpcTlsSettings | null;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  maxReplyBytes: number;
}

export type Http2Fields = Readonly<Record<string, string | string[] | number | undefined>>;

/** What one HTTP/2 request amounted to, as the platform observed it. */
export type Http2Outcome =
  | { kind: 'response'; status: number; headers: Http2Fields; trailers: Http2Fields; body: Buffer }
  | { kind: 'connect-failed'; code: string }
  | { kind: 'tls-failed'; code: string }
  | { kind: 'stream-failed'; code: string }
  | { kind: 'timed-out' }
  | { kind: 'too-large' }
  | { kind: 'tls-file-unreadable'; setting: string; path: string; code: string }
  /** The file holds no certificate or key OpenSSL takes, or a key that is not the certificate's. */
  | { kind: 'tls-file-invalid'; setting: string; path: string; code: string };

const FIX_TLS_FILES_HINT = 'fix the grpc-tls paths or files in the file named by OCICRYPT_KEYPROVIDER_CONFIG';

/** gRPC status codes by number, for messages. */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];
/** Statuses that say the service, not this wrapped key, is the problem. */
const SERVICE_STATUSES = new Set([12, 14]);

/**
 * Turns the HTTP/2 exchange into the provider's reply JSON: HTTP 200, a gRPC
 * content type, grpc-status 0 (in the trailers, or in the headers of a
 * trailers-only reply), then exactly one uncompressed message.
 */
export function interpretUnaryOutcome(outcome: Http2Outcome, timeoutMs: number): ProviderCallResult {
  switch (outcome.kind) {
    case 'connect-failed':
      return { failure: `not reachable (${outcome.code})`, unreachable: true };
    case 'tls-failed':
      return { failure: `TLS handshake failed (${outcome.code})`, unreachable: true };
    case 'stream-failed':
      return { failure: `the call failed (${outcome.code})`, unreachable: true };
    case 'timed-out':
      return { failure: `gave no reply within ${timeoutMs} ms`, unreachable: true };
    case 'too-large':
      return { failure: `replied with more than ${MAX_GRPC_REPLY_BYTES} bytes`, unreachable: false };
    case 'tls-file-unreadable':
      throw new KeyProviderConfigError(`cannot read grpc-tls ${outcome.setting} ${outcome.path} (${outcome.code})`, FIX_TLS_FILES_HINT);
    case 'tls-file-invalid':
      throw new KeyProviderConfigError(`grpc-tls ${outcome.setting} ${outcome.path} is not usable (${outcome.code})`, FIX_TLS_FILES_HINT);
    case 'response':
      return interpretResponse(outcome);
  }
}

function interpretResponse(response: Extract<Http2Outcome, { kind: 'response' }>): ProviderCallResult {
  if (response.status !== 200) return { failure: `HTTP status ${response.status}: not a gRPC service`, unreachable: true };
  const contentType = fieldText(response.headers['content-type']) ?? '';
  if (!/^application\/grpc(?:$|[+;])/.test(contentType)) {
    return { failure: `reply is not gRPC (content-type ${quoteUntrusted(contentType)})`, unreachable: true };
  }
  const status = fieldText(response.trailers['grpc-status'] ?? response.headers['grpc-status']);
  if (status === undefined) return { failure: 'reply carries no grpc-status', unreachable: false };
  const code = /^[0-9]{1,9}$/.test(status) ? Number(status) : NaN;
  if (code !== 0) {
    const name = STATUS_NAMES[code];
    const label = name === undefined ? `status ${quoteUntrusted(status, 16)}` : `status ${name} (${code})`;
    const message = grpcMessage(fieldText(response.trailers['grpc-message'] ?? response.headers['grpc-message']));
    return { failure: `${label}${message ? `: "${message}"` : ''}`, unreachable: SERVICE_STATUSES.has(code) };
  }
  try {
    return { reply: onlyBytesField(onlyMessage(response.body)) };
  } catch (error) {
    if (error instanceof GrpcWireError || error instanceof ProtobufError) return { failure: `reply is malformed (${error.message})`, unreachable: false };
    throw error;
  }
}

function fieldText(value: string | string[] | number | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value === undefined ? undefined : String(value);
}

/** grpc-message is percent-encoded UTF-8. */
function grpcMessage(raw: string | undefined): string {
  if (raw === undefined) return '';
  let text = raw;
  try {
    text = decodeURIComponent(raw);
  } catch {
    // Not valid percent-encoding: show it as sent.
  }
  return printable(text);
}

class GrpcWireError extends Error {}

export function onlyMessage(body: Buffer): Buffer {
  if (body.length < 5) throw new GrpcWireError(body.length === 0 ? 'no message' : 'truncated message prefix');
  if (body[0] !== 0) throw new GrpcWireError('compressed message, which was not asked for');
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) throw new GrpcWireError(body.length < 5 + length ? 'truncated message' : 'more than one message');
  return body.subarray(5);
}

/** Field 1 (wire type 2) of a protobuf message; as protobuf has it, the last occurrence wins and an absent field is empty. */
export function onlyBytesField(message: Buffer): Buffer {
  return lengthDelimitedFields(message).findLast((field) => field.fieldNumber === 1)?.content ?? Buffer.alloc(0);
}
