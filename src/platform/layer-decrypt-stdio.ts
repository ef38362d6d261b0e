import { LayerDecryption } from '../blockcipher/layer-decrypt.ts';
import type { LayerCipherOptions } from '../blockcipher/options.ts';
import { InputError, OutputError, errorCode } from '../errors.ts';
import { readSome, writeAll } from './blocking-io.ts';

const STDIN = 0;
const STDOUT = 1;

/**
 * stdin is read into one reused buffer of this size: a pipe gives at most its
 * capacity, 64 KiB, per read, and a file read in 64 KiB steps is as fast as
 * in 1 MiB ones (the cipher works in 64 KiB pieces anyway), while each fresh
 * page of a bigger buffer costs a page fault at start-up.
 */
const READ_BYTES = 64 * 1024;

/** A layer longer than this is a long stream: see stopOptimizingJavaScript. */
const LONG_STREAM_BYTES = 8 * 1024 * 1024;

/**
 * What a payload-less call already knows of stdin: its first bytes, read to
 * tell which blob it is (readStandardInputPrefix), and the sha256 the whole
 * stream must have (the found descriptor's digest).
 */
export interface IdentifiedBlob {
  start: Buffer;
  sha256Hex: string;
}

/**
 * stdin -> decryption -> stdout with blocking reads and writes: the
 * containerd hot path. Throws InputError or OutputError for I/O failures,
 * and IntegrityError at the end if the HMAC (or, for an identified blob, its
 * digest) does not verify (the layer's tail withheld).
 */
export function decryptStandardStreams(options: LayerCipherOptions, blob?: IdentifiedBlob): void {
  const decryption = new LayerDecryption(options, blob?.sha256Hex);
  const input = Buffer.allocUnsafe(READ_BYTES);
  let streamed = 0;
  if (blob !== undefined) {
    streamed = blob.start.length;
    decryption.update(blob.start, release);
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

/** Writes plaintext that left the withheld tail, and frees it. */
function release(plaintext: Buffer): void {
  writeOutput(plaintext);
  freeNow(plaintext);
}

/**
 * A long stream spends its time in OpenSSL, not in JavaScript, so V8's
 * optimizing compilers gain it nothing; yet once the loop is hot they run and
 * map more of the binary, which raises peak RSS. Switched off here, for long
 * streams only, where loading node:v8 is worth its cost; as start-up flags
 * (execArgv) they would make V8 reject Node's own code cache on every start
 * (docs/performance.md has the figures).
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

/**
 * Returns a written plaintext piece's memory to the allocator now rather than
 * at some later garbage collection: detaching its ArrayBuffer drops the last
 * reference to the backing store. Peak RSS then stays flat (V8 would let
 * dead pieces pile up until a collection) and the next piece reuses warm memory.
 */
function freeNow(plaintext: Buffer): void {
  const memory = plaintext.buffer as ArrayBuffer & { transfer(newLength: number): ArrayBuffer };
  if (plaintext.byteOffset === 0 && plaintext.byteLength === memory.byteLength) memory.transfer(0);
}
