import type { LayerDecryption, ReleasePlaintext } from '../blockcipher/layer-decrypt.ts';
import { InputError, OutputError } from '../errors.ts';
import { readSome, writeAll } from './blocking-io.ts';

const STDIN = 0;
const STDOUT = 1;

/**
 * stdin is read into one reused buffer of this size: a pipe gives at most its
 * capacity, 64 KiB, per read, and a file read in 64 KiB steps is as fast as
 * in 1 MiB ones (the cipher works in 64 KiB pieces anyway), while each fresh
 * page of a bigger buffer costs a page fault at start-up (~0.7 ms for 1 MiB).
 */
const READ_BYTES = 64 * 1024;

/** A layer longer than this is a long stream: see stopOptimizingJavaScript. */
const LONG_STREAM_BYTES = 8 * 1024 * 1024;

/**
 * stdin -> decryption -> stdout with blocking reads and writes: the
 * containerd hot path. Throws InputError or OutputError for I/O failures,
 * and whatever `decryption.final` throws (IntegrityError) at the end.
 */
export function decryptStandardStreams(decryption: LayerDecryption, alreadyRead?: Buffer): void {
  const input = Buffer.allocUnsafe(READ_BYTES);
  const release: ReleasePlaintext = (plaintext) => {
    writeOutput(plaintext);
    freeNow(plaintext);
  };
  let streamed = 0;
  if (alreadyRead !== undefined) {
    streamed = alreadyRead.length;
    decryption.update(alreadyRead, release);
  }
  for (let read = readInput(input); read > 0; read = readInput(input)) {
    if (streamed < LONG_STREAM_BYTES && streamed + read >= LONG_STREAM_BYTES) stopOptimizingJavaScript();
    streamed += read;
    decryption.update(input.subarray(0, read), release);
  }
  decryption.final(release);
}

/**
 * The first `length` bytes of stdin (fewer only at its end), read before the
 * layer is decrypted: without a payload they tell which blob stdin is. The
 * caller hands them back to decryptStandardStreams.
 */
export function readStandardInputPrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const read = readInput(prefix.subarray(filled));
    if (read === 0) break;
    filled += read;
  }
  return prefix.subarray(0, filled);
}

/**
 * A long stream spends its time in OpenSSL, not in JavaScript, so V8's
 * optimizing compilers gain it nothing; yet once the loop is hot they run and
 * map ~9 MiB more of the binary (peak RSS on 1 GiB: 60 -> 51 MiB). Switched
 * off here, for long streams only: loading node:v8 costs ~1 ms, and as
 * start-up flags (execArgv) they would make V8 reject Node's own code cache,
 * ~5 ms on every start.
 */
function stopOptimizingJavaScript(): void {
  const v8 = process.getBuiltinModule('node:v8');
  v8.setFlagsFromString('--no-turbofan');
  v8.setFlagsFromString('--no-maglev');
}

function readInput(buffer: Buffer): number {
  try {
    return readSome(STDIN, buffer);
  } catch (error) {
    throw new InputError(
      `the encrypted layer could not be read (${errorCode(error)})`,
      'containerd passes the layer on stdin; check the stream processor configuration',
    );
  }
}

function writeOutput(bytes: Buffer): void {
  try {
    writeAll(STDOUT, bytes);
  } catch (error) {
    throw new OutputError(
      `the decrypted layer could not be written (${errorCode(error)}): containerd closed our output`,
      'nothing to fix here if the pull was cancelled',
    );
  }
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'error';
}

/**
 * Returns a written plaintext piece's memory to the allocator now rather than
 * at some later garbage collection: detaching its ArrayBuffer drops the last
 * reference to the backing store. Peak RSS then stays flat (V8 would let
 * ~64 MiB of dead pieces pile up first) and the next piece reuses warm memory.
 */
function freeNow(plaintext: Buffer): void {
  const memory = plaintext.buffer as ArrayBuffer & { transfer(newLength: number): ArrayBuffer };
  if (plaintext.byteOffset === 0 && plaintext.byteLength === memory.byteLength) memory.transfer(0);
}
