/**
 * A long layer (over 8 MiB, where src/platform/layer-decrypt-stdio.ts stops
 * V8's optimizing compilers) fed in uneven pieces: the same output, the same
 * withheld tail, the same failures as a short one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { HELD_BACK_BYTES } from '../../src/blockcipher/layer-decrypt.ts';
import { ERROR_LINE, keysDirectoryWith } from '../support/fixtures.ts';
import { DECODER_BIN, runDecoder } from '../support/run-decoder.ts';
import { makeLayer } from '../support/synthetic-layer.ts';

const MiB = 1024 * 1024;
const keys = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');
const args = ['--decryption-keys-path', keys];
const layer = await makeLayer(20 * MiB + 12_345);

/** Runs the decoder with stdin fed in the given pieces, one write each, a pause after the first. */
function runFedInPieces(payload: Buffer, pieces: Buffer[]) {
  const child = spawn(DECODER_BIN, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: { CTD_DECODER_HOLD_OUTPUT_MS: '0' } });
  (child.stdio[3] as NodeJS.WritableStream).end(payload);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin!.write(pieces[0]);
  setTimeout(() => {
    for (const piece of pieces.slice(1)) child.stdin!.write(piece);
    child.stdin!.end();
  }, 100);
  return new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() })),
  );
}

describe('long layers', () => {
  it('decrypts every byte', async () => {
    const run = await runDecoder({ args, stdin: layer.encrypted, payload: layer.payload });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.equals(layer.plain));
  });

  it('decrypts every byte when stdin arrives in pieces that split 16-byte counter blocks (the first 5 bytes alone)', async () => {
    const run = await runFedInPieces(layer.payload, [layer.encrypted.subarray(0, 5), layer.encrypted.subarray(5)]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.equals(layer.plain));
  });

  it('counts the counter block across 2^128, as ocicrypt and OpenSSL do', async () => {
    // The counter wraps at byte 10 MiB + 100 KiB: past the long-stream threshold.
    const wrapping = await makeLayer(12 * MiB, Buffer.from('fffffffffffffffffffffffffff5e700', 'hex'));
    const run = await runDecoder({ args, stdin: wrapping.encrypted, payload: wrapping.payload });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.equals(wrapping.plain));
  });

  for (const [what, tamper] of [
    ['a bit flipped in the last byte', (bytes: Buffer) => Buffer.concat([bytes.subarray(0, -1), Buffer.from([bytes.at(-1)! ^ 1])])],
    ['a bit flipped at 15 MiB', (bytes: Buffer) => {
      const copy = Buffer.from(bytes);
      copy[15 * MiB]! ^= 0x80;
      return copy;
    }],
    ['truncated by 1000 bytes', (bytes: Buffer) => bytes.subarray(0, -1000)],
    ['extended by 1 byte', (bytes: Buffer) => Buffer.concat([bytes, Buffer.from([0])])],
  ] as const) {
    it(`${what}: ERR_INTEGRITY, the last ${HELD_BACK_BYTES / 1024} KiB withheld`, async () => {
      const run = await runDecoder({ args, stdin: tamper(layer.encrypted), payload: layer.payload });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^ctd-decoder: ERR_INTEGRITY /);
      assert.ok(run.stdout.length <= layer.plain.length - HELD_BACK_BYTES, `released ${run.stdout.length} of ${layer.plain.length}`);
    });
  }

  it('stdout closed mid-layer: ERR_OUTPUT', async () => {
    const child = spawn(DECODER_BIN, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: { CTD_DECODER_HOLD_OUTPUT_MS: '0' } });
    (child.stdio[3] as NodeJS.WritableStream).end(layer.payload);
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    let received = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > 12 * MiB) child.stdout!.destroy();
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(layer.encrypted);
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 1);
    assert.match(Buffer.concat(stderr).toString(), ERROR_LINE);
    assert.match(Buffer.concat(stderr).toString(), /ERR_OUTPUT/);
  });
});
