/**
 * The decoder moves the layer with blocking reads and writes on fds 0 and 1.
 * containerd (Go's os/exec) hands it blocking pipes, but another parent may
 * leave either descriptor non-blocking: EAGAIN must wait and retry, never
 * fail or lose bytes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { keysDirectoryWith } from '../support/fixtures.ts';
import { DECODER_BIN } from '../support/run-decoder.ts';
import { makeLayer } from '../support/synthetic-layer.ts';

/**
 * Node's spawn resets a child's fds 0-2 to blocking mode, so perl (always on
 * Debian: perl-base is essential) sets O_NONBLOCK on them and execs the
 * decoder, which inherits them that way; fd 3 (the payload) passes through.
 */
const NONBLOCKING_EXEC =
  'use Fcntl; for my $fd (0, 1) { open(my $h, $fd ? ">&=" : "<&=", $fd) or die; ' +
  'fcntl($h, F_SETFL, fcntl($h, F_GETFL, 0) | O_NONBLOCK) or die } exec { $ARGV[0] } @ARGV or die';

function startNonBlocking(keys: string, payload: Buffer) {
  const child = spawn('perl', ['-e', NONBLOCKING_EXEC, DECODER_BIN, '--decryption-keys-path', keys], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  (child.stdio[3] as NodeJS.WritableStream).end(payload);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<{ code: number | null; stderr: string; stdout: Buffer }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(stderr).toString(), stdout: Buffer.concat(stdout) })),
  );
  return { child, exited, collect: () => child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk)) };
}

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe('non-blocking stdin and stdout', () => {
  const keys = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');

  it('stdin non-blocking and slow: every byte decrypted', async () => {
    const layer = await makeLayer(300_000);
    const { child, exited, collect } = startNonBlocking(keys, layer.payload);
    collect();
    for (let offset = 0; offset < layer.encrypted.length; offset += 50_000) {
      child.stdin!.write(layer.encrypted.subarray(offset, offset + 50_000));
      await pause(20); // the decoder finds stdin empty: EAGAIN
    }
    child.stdin!.end();
    const { code, stderr, stdout } = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(stdout.equals(layer.plain));
  });

  it('stdout non-blocking and read late: every byte written', async () => {
    const layer = await makeLayer(1_000_000);
    const { child, exited, collect } = startNonBlocking(keys, layer.payload);
    child.stdin!.end(layer.encrypted);
    child.stdout!.pause();
    await pause(300); // stdout fills up: the decoder's writes get EAGAIN
    collect();
    child.stdout!.resume();
    const { code, stderr, stdout } = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(stdout.equals(layer.plain));
  });
});
