import { readSync, writeSync } from 'node:fs';
import { errorCode } from '../errors.ts';

/**
 * Synchronous reads and writes on inherited descriptors (stdin, stdout, fd 3).
 * containerd (Go's os/exec) hands a stream processor blocking pipes, and a
 * blocking loop is both the fastest and the smallest way to move a layer: no
 * streams, no event loop turns, one reused input buffer. A descriptor some
 * other parent left non-blocking still works: EAGAIN waits 1 ms and retries.
 */

/** Reads what is available (at most buffer.length bytes); 0 means end of input. */
export function readSome(fd: number, buffer: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      retryOrThrow(error);
    }
  }
}

/** Writes all of `bytes`, however many calls that takes. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      retryOrThrow(error);
    }
  }
}

/**
 * Returns when the call should be made again: at once after EINTR, after
 * 1 ms after EAGAIN (a non-blocking descriptor with nothing to read or no
 * room to write). Rethrows anything else.
 */
function retryOrThrow(error: unknown): void {
  const code = errorCode(error);
  if (code === 'EINTR') return;
  if (code === 'EAGAIN') return sleepMilliseconds(1);
  throw error;
}

/** Waits without spinning (the main thread may block: this process does nothing else). */
export function sleepMilliseconds(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}
