/**
 * A gRPC key provider for the tests, on node:http2 (plaintext h2c or TLS,
 * TCP or a unix socket): `keyprovider.KeyProviderService` with WrapKey and
 * UnWrapKey, each message one protobuf bytes field holding the protocol JSON.
 * Written independently of src/ so that it checks the decoder's client
 * rather than mirroring it; skopeo's Go gRPC client checks it in turn
 * (test/fixtures/gen-provider.sh).
 */
import { rmSync } from 'node:fs';
import { createSecureServer, createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PROVIDER_SECRETS, answerRequest } from './wrapping.ts';

const SERVICE = '/keyprovider.KeyProviderService/';

export type GrpcProviderBehaviour =
  /** Answer correctly. */
  | 'ok'
  /** Answer with grpc-status INTERNAL and a multi-line message. */
  | 'fail'
  /** Accept the call and never answer. */
  | 'hang'
  /** Answer with a message whose JSON is not JSON. */
  | 'garbage';

export interface GrpcProviderOptions {
  /** A unix socket path, or a TCP port on 127.0.0.1 (0: any free port). */
  listen: { path: string } | { port: number };
  tls?: { key: Buffer; cert: Buffer; clientCa?: Buffer };
  behave?: GrpcProviderBehaviour;
  /** Called with every request's JSON. */
  onRequest?: (json: string) => void;
}

export interface RunningGrpcProvider {
  /** As it goes in the key-provider config: "unix:/path" or "127.0.0.1:port". */
  address: string;
  close(): Promise<void>;
}

export async function startGrpcProvider(options: GrpcProviderOptions): Promise<RunningGrpcProvider> {
  const server: Http2Server =
    options.tls === undefined
      ? createServer()
      : (createSecureServer({
          key: options.tls.key,
          cert: options.tls.cert,
          ...(options.tls.clientCa ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
        }) as unknown as Http2Server);
  const hanging = new Set<ServerHttp2Stream>();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const path = String(headers[':path']);
      if (!path.startsWith(SERVICE) || !['WrapKey', 'UnWrapKey'].includes(path.slice(SERVICE.length))) {
        return finishWithStatus(stream, 12, `unknown method ${path}`);
      }
      let json: string;
      try {
        json = readRequestMessage(Buffer.concat(chunks));
      } catch (error) {
        return finishWithStatus(stream, 13, (error as Error).message);
      }
      options.onRequest?.(json);
      switch (options.behave ?? 'ok') {
        case 'hang':
          hanging.add(stream);
          return;
        case 'fail':
          return finishWithStatus(stream, 13, 'test provider: the key is revoked\nsecond line 100% sure');
        case 'garbage':
          return reply(stream, Buffer.from('not JSON at all'));
        case 'ok':
          try {
            return reply(stream, answerRequest(PROVIDER_SECRETS.grpc, Buffer.from(json)));
          } catch (error) {
            return finishWithStatus(stream, 3, `cannot answer: ${(error as Error).message}`);
          }
      }
    });
  });

  if ('path' in options.listen) rmSync(options.listen.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in options.listen) server.listen(options.listen.path, resolve);
    else server.listen(options.listen.port, '127.0.0.1', resolve);
  });
  const address = 'path' in options.listen ? `unix:${options.listen.path}` : `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of hanging) stream.close();
        server.close(() => resolve());
      }),
  };
}

/** The request: one length-prefixed, uncompressed message whose field 1 (bytes) is the JSON. */
function readRequestMessage(body: Buffer): string {
  if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) throw new Error('bad gRPC framing');
  const message = body.subarray(5);
  if (message[0] !== 0x0a) throw new Error('field 1 (bytes) expected first');
  let length = 0;
  let offset = 1;
  for (let shift = 0; ; shift += 7) {
    const byte = message[offset++]!;
    length |= (byte & 0x7f) << shift;
    if (byte < 0x80) break;
  }
  return message.subarray(offset, offset + length).toString('utf8');
}

function reply(stream: ServerHttp2Stream, json: Buffer): void {
  const lengthBytes: number[] = [];
  for (let n = json.length; ; n >>>= 7) {
    if (n < 0x80) {
      lengthBytes.push(n);
      break;
    }
    lengthBytes.push((n & 0x7f) | 0x80);
  }
  const message = Buffer.concat([Buffer.from([0x0a, ...lengthBytes]), json]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.concat([prefix, message]));
}

/** A trailers-only reply: the status travels in the response headers. */
function finishWithStatus(stream: ServerHttp2Stream, status: number, message: string): void {
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': encodeURIComponent(message) },
    { endStream: true },
  );
}
