import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { PayloadInvalidError, errorCode } from '../errors.ts';
import { MAX_PAYLOAD_BYTES, PAYLOAD_READ_DEADLINE_MS } from '../limits.ts';
import { sleepMilliseconds } from './blocking-io.ts';

const PAYLOAD_FD = 3;

const TOO_LARGE = () =>
  new PayloadInvalidError(`decryption payload is larger than ${MAX_PAYLOAD_BYTES} bytes`, 'containerd sends a few KiB; check what writes to fd 3');

const UNREADABLE_HINT = 'containerd writes the payload to a pipe on fd 3: if a wrapper starts ctd-decoder, have it pass fd 3 through untouched';

const TIMED_OUT = () =>
  new PayloadInvalidError(
    `the decryption payload on fd 3 did not end within ${PAYLOAD_READ_DEADLINE_MS / 1000} s (its writer keeps it open)`,
    'containerd writes the payload and closes its end: if a wrapper starts ctd-decoder, have it close its copy of fd 3\'s other end',
  );

const unreadable = (code: string) => new PayloadInvalidError(`cannot read the decryption payload on fd 3 (${code})`, UNREADABLE_HINT);

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
 * read: only a pipe, socket or regular file is a payload. A pipe or socket
 * whose writer never closes would block a plain read forever, so both are
 * read with a deadline: a pipe through a non-blocking descriptor of its own,
 * a socket (or a pipe that cannot be reopened) through node:net, loaded only
 * then.
 */
async function readFd3(): Promise<PayloadRead> {
  let stats;
  try {
    stats = fstatSync(PAYLOAD_FD);
  } catch {
    return { bytes: null, missing: 'fd 3 is not open' };
  }
  if (!stats.isFIFO() && !stats.isSocket() && !stats.isFile()) return { bytes: null, missing: 'fd 3 is not a pipe, socket or file' };
  if (stats.isFile()) return { bytes: readUntilEnd(PAYLOAD_FD, Number.POSITIVE_INFINITY) };
  const deadline = Date.now() + PAYLOAD_READ_DEADLINE_MS;
  const nonBlocking = stats.isFIFO() ? reopenNonBlocking(PAYLOAD_FD) : null;
  if (nonBlocking === null) return { bytes: await readStream(PAYLOAD_FD) };
  try {
    return { bytes: readUntilEnd(nonBlocking, deadline) };
  } finally {
    closeSync(nonBlocking);
  }
}

/** A second, non-blocking open of the same pipe (Linux lets a pipe be opened through /proc), or null. */
function reopenNonBlocking(fd: number): number | null {
  try {
    return openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
}

/** Reads to the end; a non-blocking descriptor with nothing to read waits 1 ms at a time until `deadline`. */
function readUntilEnd(fd: number, deadline: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let read: number;
    try {
      read = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EINTR') continue;
      if (code !== 'EAGAIN') throw unreadable(code);
      if (Date.now() >= deadline) throw TIMED_OUT();
      sleepMilliseconds(1);
      continue;
    }
    if (read === 0) break;
    total += read;
    if (total > MAX_PAYLOAD_BYTES) throw TOO_LARGE();
    chunks.push(chunk.subarray(0, read));
  }
  return Buffer.concat(chunks, total);
}

/** A socket on fd 3, read through the event loop so that the deadline can end it; the socket is closed afterwards. */
async function readStream(fd: number): Promise<Buffer> {
  const { Socket } = process.getBuiltinModule('node:net') as typeof import('node:net');
  return new Promise((resolve, reject) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const timer = setTimeout(() => socket.destroy(TIMED_OUT()), PAYLOAD_READ_DEADLINE_MS);
    collectPayload(socket, (bytes) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(bytes);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error instanceof PayloadInvalidError ? error : unreadable(errorCode(error)));
    });
  });
}

/** Windows only: node:net is loaded here, never on the Unix path. */
async function readNamedPipe(path: string): Promise<Buffer> {
  const { connect } = process.getBuiltinModule('node:net') as typeof import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    collectPayload(socket, resolve);
    socket.on('error', (error) =>
      reject(
        error instanceof PayloadInvalidError
          ? error
          : new PayloadInvalidError(
              `cannot read the decryption payload from ${path} (${errorCode(error, error.message)})`,
              'STREAM_PROCESSOR_PIPE must name the pipe containerd made for this call: if a wrapper starts ctd-decoder, have it pass the variable through untouched',
            ),
      ),
    );
  });
}

/** Gathers what a socket sends until it ends, for `end`; past MAX_PAYLOAD_BYTES the socket is destroyed with a payload error. */
function collectPayload(socket: Socket, end: (bytes: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let total = 0;
  socket.on('data', (chunk: Buffer) => {
    total += chunk.length;
    if (total > MAX_PAYLOAD_BYTES) socket.destroy(TOO_LARGE());
    else chunks.push(chunk);
  });
  socket.on('end', () => end(Buffer.concat(chunks, total)));
}
