import { fstatSync } from 'node:fs';
import { PayloadInvalidError } from '../errors.ts';
import { readSome } from './blocking-io.ts';

/** containerd's payloads are a few KiB; anything this large is not one. */
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const PAYLOAD_FD = 3;

const TOO_LARGE = () =>
  new PayloadInvalidError(`decryption payload is larger than ${MAX_PAYLOAD_BYTES} bytes`, 'containerd sends a few KiB; check what writes to fd 3');

/** The payload's bytes, or (bytes null) why there is none, e.g. "fd 3 is not open". */
export type PayloadRead = { bytes: Buffer; missing?: never } | { bytes: null; missing: string };

/**
 * The payload containerd hands a stream processor: fd 3 on Unix, the named
 * pipe in STREAM_PROCESSOR_PIPE on Windows.
 */
export async function readPayloadBytes(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): Promise<PayloadRead> {
  if (platform === 'win32') {
    const pipe = env['STREAM_PROCESSOR_PIPE'];
    return pipe ? { bytes: await readNamedPipe(pipe) } : { bytes: null, missing: 'STREAM_PROCESSOR_PIPE is not set' };
  }
  return readFd3();
}

/**
 * Node's event loop takes the lowest free descriptor for its epoll instance,
 * so when containerd passes no payload, fd 3 is libuv's own and must not be
 * read: only a pipe, socket or regular file is a payload.
 */
function readFd3(): PayloadRead {
  let stats;
  try {
    stats = fstatSync(PAYLOAD_FD);
  } catch {
    return { bytes: null, missing: 'fd 3 is not open' };
  }
  if (!stats.isFIFO() && !stats.isSocket() && !stats.isFile()) return { bytes: null, missing: 'fd 3 is not a pipe, socket or file' };
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let read: number;
    try {
      read = readSome(PAYLOAD_FD, chunk);
    } catch (error) {
      throw new PayloadInvalidError(
        `cannot read the decryption payload on fd 3 (${(error as NodeJS.ErrnoException).code})`,
        'containerd writes the payload to a pipe on fd 3: if a wrapper starts ctd-decoder, have it pass fd 3 through untouched',
      );
    }
    if (read === 0) break;
    total += read;
    if (total > MAX_PAYLOAD_BYTES) throw TOO_LARGE();
    chunks.push(chunk.subarray(0, read));
  }
  return { bytes: Buffer.concat(chunks, total) };
}

/** Windows only: node:net is loaded here, never on the Unix path. */
async function readNamedPipe(path: string): Promise<Buffer> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const socket = connect(path);
    socket.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_PAYLOAD_BYTES) socket.destroy(TOO_LARGE());
      else chunks.push(chunk);
    });
    socket.on('end', () => resolve(Buffer.concat(chunks, total)));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error instanceof PayloadInvalidError
          ? error
          : new PayloadInvalidError(
              `cannot read the decryption payload from ${path} (${error.code ?? error.message})`,
              'STREAM_PROCESSOR_PIPE must name the pipe containerd made for this call: if a wrapper starts ctd-decoder, have it pass the variable through untouched',
            ),
      ),
    );
  });
}
