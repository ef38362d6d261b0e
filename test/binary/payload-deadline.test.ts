/**
 * A payload on fd 3 that never reaches its end (a wrapper keeps the other end
 * open) ends the decode after the documented deadline with one coded line,
 * for both kinds of descriptor a wrapper may pass: a socket (what
 * child_process passes, and containerd on some platforms) and a pipe.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PAYLOAD_READ_DEADLINE_MS } from '../../src/limits.ts';
import { ERROR_LINE, keysDirectoryWith, loadLayerCase } from '../support/fixtures.ts';
import { encodePayload } from '../support/payload.ts';
import { DECODER_BIN } from '../support/run-decoder.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const layer = loadLayerCase('jwe', 'rsa2048-tar');
const keysDir = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');
const payload = encodePayload(layer.descriptor, {});
const EXPECTED = new RegExp(`^ctd-decoder: ERR_PAYLOAD_INVALID: the decryption payload on fd 3 did not end within ${PAYLOAD_READ_DEADLINE_MS / 1000} s`);

function finished(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin!.on('error', () => {});
  child.stdin!.end(layer.encrypted);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr: Buffer.concat(stderr).toString() })));
}

describe(`a payload that never ends is given up after ${PAYLOAD_READ_DEADLINE_MS / 1000} s`, () => {
  it('a socket on fd 3 whose peer stays open, and a pipe whose writer stays open (issue 12: blocked forever)', async () => {
    const env = { PATH: process.env['PATH'], CTD_DECODER_HOLD_OUTPUT_MS: '0' };
    const socketChild = spawn(DECODER_BIN, ['--decryption-keys-path', keysDir], { stdio: ['pipe', 'ignore', 'pipe', 'pipe'], env });
    const socketPeer = socketChild.stdio[3] as NodeJS.WritableStream;
    socketPeer.on('error', () => {});
    socketPeer.write(payload.subarray(0, 10)); // a start, then nothing, and never the end

    const fifo = join(temporaryDirectory('ctd-decoder-fifo-'), 'payload');
    execFileSync('mkfifo', [fifo]);
    // Read-write, so this test holds a writer without waiting for a reader; the decoder gets a read-only open on fd 3.
    const writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    writeSync(writer, payload.subarray(0, 10));
    const pipeChild = spawn('sh', ['-c', 'exec "$0" --decryption-keys-path "$1" 3<"$2"', DECODER_BIN, keysDir, fifo], { stdio: ['pipe', 'ignore', 'pipe'], env });

    try {
      for (const run of await Promise.all([finished(socketChild), finished(pipeChild)])) {
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, ERROR_LINE);
        assert.match(run.stderr, EXPECTED);
      }
    } finally {
      closeSync(writer);
      (socketPeer as unknown as { destroy(): void }).destroy();
    }
  });
});
