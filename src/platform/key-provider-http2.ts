import { X509Certificate } from 'node:crypto';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, getCACertificates, type SecureContext } from 'node:tls';
import { errorCode } from '../errors.ts';
import type { GrpcTlsSettings } from '../keywrap/key-provider/config.ts';
import type { Http2Outcome, Http2UnaryRequest } from '../keywrap/key-provider/grpc.ts';
import { describeSmallFileFailure, readSmallRegularFile } from './small-file.ts';

type TlsFileProblem = Extract<Http2Outcome, { kind: 'tls-file-unreadable' | 'tls-file-invalid' }>;

/**
 * One HTTP/2 request and its whole reply, within a deadline that covers
 * connecting too. Never rejects: every way it can end is an outcome.
 */
export function http2UnaryExchange(request: Http2UnaryRequest): Promise<Http2Outcome> {
  const context = request.tls === null ? null : secureContextOf(request.tls);
  if (context !== null && 'kind' in context) return Promise.resolve(context);

  return new Promise((resolve) => {
    let settled = false;
    let session: ClientHttp2Session | undefined;
    let socket: Socket | undefined;
    let timer: NodeJS.Timeout | undefined;
    let transportConnected = false;
    let secured = request.tls === null;
    const finish = (outcome: Http2Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      socket?.destroy();
      resolve(outcome);
    };
    const failed = (error: unknown) => {
      // A stream cancelled because its connection failed carries the connection's error as cause.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const code = codeOrMessage(cause);
      if (!transportConnected) finish({ kind: 'connect-failed', code });
      // With TLS 1.3 a rejected client certificate is only reported after our side of the handshake.
      else if (!secured || /^ERR_(SSL|TLS)_/.test(code)) finish({ kind: 'tls-failed', code });
      else finish({ kind: 'stream-failed', code });
    };

    try {
      session = http2Connect(originOf(request), {
        createConnection: () => {
          socket = openSocket(request, context);
          socket.once('connect', () => (transportConnected = true));
          socket.once('secureConnect', () => (secured = true));
          return socket;
        },
      });
      session.on('error', failed);

      const stream = session.request(request.headers);
      let headers: IncomingHttpHeaders & IncomingHttpStatusHeader = {};
      let trailers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let received = 0;
      stream.on('response', (responseHeaders) => (headers = responseHeaders));
      stream.on('trailers', (responseTrailers) => (trailers = responseTrailers));
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > request.maxReplyBytes) finish({ kind: 'too-large' });
        else chunks.push(chunk);
      });
      stream.on('end', () => {
        const status = headers[':status'];
        if (status === undefined) finish({ kind: 'stream-failed', code: 'connection closed without a reply' });
        else finish({ kind: 'response', status, headers, trailers, body: Buffer.concat(chunks) });
      });
      stream.on('error', failed);
      stream.on('close', () => finish({ kind: 'stream-failed', code: `HTTP/2 stream reset (code ${stream.rstCode ?? 'none'})` }));
      stream.end(request.body);
    } catch (error) {
      // node:net, node:tls and node:http2 throw some failures (an option they refuse) instead of emitting them.
      failed(error);
    }
    // Not armed when setting up already failed: a pending timer would hold the process open for nothing.
    if (!settled) timer = setTimeout(() => finish({ kind: 'timed-out' }), request.timeoutMs);
  });
}

/** The error's code, else its message: node:tls's certificate and key errors often have no code. */
function codeOrMessage(error: unknown): string {
  return errorCode(error, error instanceof Error ? error.message : String(error));
}

/** The origin gives HTTP/2 its :scheme and :authority; grpc-go sends "localhost" for unix sockets. */
function originOf(request: Http2UnaryRequest): string {
  const scheme = request.tls === null ? 'http' : 'https';
  if (request.endpoint.kind === 'unix') return `${scheme}://localhost`;
  const host = isIP(request.endpoint.host) === 6 ? `[${request.endpoint.host}]` : request.endpoint.host;
  return `${scheme}://${host}:${request.endpoint.port}`;
}

function openSocket(request: Http2UnaryRequest, context: SecureContext | null): Socket {
  const address = request.endpoint.kind === 'unix' ? { path: request.endpoint.path } : { host: request.endpoint.host, port: request.endpoint.port };
  if (context === null || request.tls === null) return netConnect(address);
  const host = request.endpoint.kind === 'unix' ? 'localhost' : request.endpoint.host;
  const serverName = request.tls.serverName ?? host;
  return tlsConnect({
    ...address,
    secureContext: context,
    ALPNProtocols: ['h2'],
    // An IP address is no SNI name (Node would warn on stderr): the certificate is then checked against the host dialled.
    ...(isIP(serverName) === 0 ? { servername: serverName } : {}),
    rejectUnauthorized: !request.tls.insecureSkipVerify,
  });
}

/** A CA bundle, a certificate or a key: the largest real one, a system CA bundle, is about 250 KiB. */
const MAX_TLS_FILE_BYTES = 4 * 1024 * 1024;

/**
 * grpc-tls as ocicrypt applies it: root-ca-file replaces the trusted roots
 * (otherwise the host's certificate store), cert-file and key-file give a
 * client certificate. Made before connecting, so that a file holding no
 * certificate or key is reported as such rather than thrown mid-connect.
 */
function secureContextOf(tls: GrpcTlsSettings): SecureContext | TlsFileProblem {
  // The guarded reader: a FIFO or device at one of these paths must not hang the decode.
  const read = (setting: string, path: string): Buffer | TlsFileProblem => {
    const file = readSmallRegularFile(path, MAX_TLS_FILE_BYTES);
    if (file.ok) return file.bytes;
    return { kind: 'tls-file-unreadable', setting, path, code: file.failure === 'missing' ? 'ENOENT' : describeSmallFileFailure(file) };
  };
  let ca: string[] | Buffer;
  if (tls.rootCaFile === null) {
    ca = getCACertificates('system');
  } else {
    const file = read('root-ca-file', tls.rootCaFile);
    if ('kind' in file) return file;
    if (!holdsCertificate(file)) return { kind: 'tls-file-invalid', setting: 'root-ca-file', path: tls.rootCaFile, code: 'no PEM certificate' };
    ca = file;
  }
  if (tls.certFile === null || tls.keyFile === null) return createSecureContext({ ca });
  const cert = read('cert-file', tls.certFile);
  if ('kind' in cert) return cert;
  const key = read('key-file', tls.keyFile);
  if ('kind' in key) return key;
  try {
    return createSecureContext({ ca, cert, key });
  } catch (error) {
    // The certificate if it fails alone; otherwise the key, unreadable or not the certificate's.
    const [setting, path] = throws(() => createSecureContext({ cert })) ? ['cert-file', tls.certFile] : ['key-file', tls.keyFile];
    return { kind: 'tls-file-invalid', setting, path, code: codeOrMessage(error) };
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/** OpenSSL skips whatever in a CA file is no certificate; as in grpc-go, there must be one. */
function holdsCertificate(pem: Buffer): boolean {
  return (pem.toString('latin1').match(PEM_CERTIFICATE) ?? []).some((block) => !throws(() => new X509Certificate(block)));
}

function throws(attempt: () => unknown): boolean {
  try {
    attempt();
    return false;
  } catch {
    return true;
  }
}
