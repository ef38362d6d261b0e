import { LayerDecryption } from '../blockcipher/layer-decrypt.ts';
import type { LayerCipherOptions } from '../blockcipher/options.ts';
import { ThreadPoolCtr } from '../blockcipher/thread-pool-ctr.ts';
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

/**
 * A layer longer than this is a long stream: its decryption moves to the
 * thread pool (see decryptRestOnThreadPool) and V8's optimizing compilers
 * stop (see stopOptimizingJavaScript). Below it, one thread is done sooner.
 */
const LONG_STREAM_BYTES = 8 * 1024 * 1024;

/**
 * A long stream goes to the thread pool in stretches of this size: one
 * WebCrypto job each, so the per-job cost on the main thread is paid every
 * 256 KiB, not every 64 KiB read.
 */
const STRETCH_BYTES = 256 * 1024;

/**
 * Stretches handed to the thread pool and not yet written: while the main
 * thread reads and authenticates one, the one before it is decrypted, which
 * keeps a core busy on each side; more would only hold more memory.
 */
const STRETCHES_IN_FLIGHT = 2;

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
export async function decryptStandardStreams(options: LayerCipherOptions, blob?: IdentifiedBlob): Promise<void> {
  // A long layer's thread-pool decipher needs the key; LayerDecryption wipes the one in options.
  const poolKey = new Uint8Array(options.symmetricKey);
  const decryption = new LayerDecryption(options, blob?.sha256Hex);
  const input = Buffer.allocUnsafe(READ_BYTES);
  let streamed = 0;
  try {
    if (blob !== undefined) {
      streamed = blob.start.length;
      decryption.update(blob.start, release);
    }
    for (let read = readInput(input); read > 0; read = readInput(input)) {
      streamed += read;
      decryption.update(input.subarray(0, read), release);
      if (streamed >= LONG_STREAM_BYTES) {
        stopOptimizingJavaScript();
        return await decryptRestOnThreadPool(decryption, await ThreadPoolCtr.create(poolKey, options.nonce));
      }
    }
  } finally {
    poolKey.fill(0);
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
 * The rest of a long layer: the main thread reads stdin, computes the HMAC
 * and writes stdout; AES-CTR runs on the thread pool, STRETCHES_IN_FLIGHT
 * stretches at a time. The HMAC verdict decides, as in
 * LayerDecryption.final, whether the withheld tail is written.
 */
async function decryptRestOnThreadPool(decryption: LayerDecryption, ctr: ThreadPoolCtr): Promise<void> {
  const { offset: start, tail } = decryption.handOver();
  const stretch = Buffer.allocUnsafeSlow(STRETCH_BYTES);
  const inFlight: Promise<Buffer>[] = [];
  // Counter blocks are 16 bytes: a start inside one decrypts that block from
  // its beginning (the bytes before `start` are whatever the buffer holds)
  // and drops their plaintext.
  let offset = start - (start % 16);
  let lead = start % 16;
  for (let ended = false; !ended; ) {
    let filled = lead;
    while (filled < STRETCH_BYTES) {
      const read = readInput(stretch.subarray(filled));
      if (read === 0) {
        ended = true;
        break;
      }
      decryption.authenticate(stretch.subarray(filled, filled + read));
      filled += read;
    }
    if (filled > lead) {
      const dropped = lead;
      inFlight.push(ctr.decrypt(offset, stretch.subarray(0, filled)).then((plaintext) => (dropped === 0 ? plaintext : plaintext.subarray(dropped))));
      offset += filled;
      lead = 0;
    }
    while (inFlight.length >= (ended ? 1 : STRETCHES_IN_FLIGHT)) tail.hold(await inFlight.shift()!, release);
  }
  try {
    decryption.verify();
  } catch (error) {
    tail.discard();
    throw error;
  }
  tail.releaseAll(release);
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
    throw outputError(errorCode(error));
  }
}

function outputError(code: string): OutputError {
  return new OutputError(
    `the decrypted layer could not be written (${code}): containerd closed our output`,
    'nothing to fix here if the pull was cancelled',
  );
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
