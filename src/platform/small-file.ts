import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { errorCode } from '../errors.ts';

/** A small regular file's bytes, or why there are none. */
export type SmallFileRead =
  | { ok: true; bytes: Buffer }
  | { ok: false; failure: 'missing' }
  | { ok: false; failure: 'not-regular' }
  | { ok: false; failure: 'too-large'; maxBytes: number }
  | { ok: false; failure: 'unreadable'; code: string };

export type SmallFileFailure = Exclude<SmallFileRead, { ok: true }>;

/** An open regular file (the caller closes `fd`), or why the path is not one. */
export type RegularFileOpen = { ok: true; fd: number; size: number } | Exclude<SmallFileFailure, { failure: 'too-large' }>;

/**
 * Opens a file the operator named as a regular file. Opening non-blocking
 * and without a controlling terminal, then checking the open file, means a
 * FIFO, socket or device at the path can neither block the decoder nor be
 * swapped in between a check and the read.
 */
export function openRegularFile(path: string | Buffer): RegularFileOpen {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    return failureOf(error);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isFile()) return { ok: true, fd, size: stats.size };
    closeSync(fd);
    return { ok: false, failure: 'not-regular' };
  } catch (error) {
    closeSync(fd);
    return failureOf(error);
  }
}

/**
 * Reads a file the operator named (a key, a config, a PIN file, an image's
 * manifest), which must be a regular file (see openRegularFile) of at most
 * `maxBytes`. The read stops past `maxBytes` whatever the size said (files
 * in /proc claim 0 bytes).
 */
export function readSmallRegularFile(path: string | Buffer, maxBytes: number): SmallFileRead {
  const opened = openRegularFile(path);
  if (!opened.ok) return opened;
  try {
    if (opened.size > maxBytes) return { ok: false, failure: 'too-large', maxBytes };
    const bytes = readAtMost(opened.fd, opened.size, maxBytes);
    return bytes === null ? { ok: false, failure: 'too-large', maxBytes } : { ok: true, bytes };
  } catch (error) {
    return failureOf(error);
  } finally {
    closeSync(opened.fd);
  }
}

/** "not a regular file", "larger than N bytes", "not readable (EACCES)", "does not exist": for messages. */
export function describeSmallFileFailure(failure: SmallFileFailure): string {
  switch (failure.failure) {
    case 'missing':
      return 'does not exist';
    case 'not-regular':
      return 'not a regular file';
    case 'too-large':
      return `larger than ${failure.maxBytes} bytes`;
    case 'unreadable':
      return `not readable (${failure.code})`;
  }
}

/** ENOTDIR (a parent is a file) means as much as ENOENT: nothing is there. */
function failureOf(error: unknown): Extract<SmallFileFailure, { failure: 'missing' | 'unreadable' }> {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR' ? { ok: false, failure: 'missing' } : { ok: false, failure: 'unreadable', code };
}

/** The file's bytes, or null when there are more than `maxBytes`. */
function readAtMost(fd: number, expected: number, maxBytes: number): Buffer | null {
  // One byte more than expected, so that a file that grew is noticed; zeroed, since it may hold a key.
  let buffer = Buffer.alloc(Math.min(expected, maxBytes) + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > maxBytes) return null;
      const bigger = Buffer.alloc(Math.min(buffer.length * 2, maxBytes + 1));
      buffer.copy(bigger);
      buffer.fill(0);
      buffer = bigger;
    }
    const read = readSync(fd, buffer, length, buffer.length - length, null);
    if (read === 0) return buffer.subarray(0, length);
    length += read;
  }
}
