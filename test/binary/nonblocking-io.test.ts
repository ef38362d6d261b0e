/**
 * The decoder moves the layer with blocking reads and writes on fds 0 and 1.
 * containerd (Go's os/exec) hands it blocking pipes, but another parent may
 * leave either descriptor non-blocking: EAGAIN must wait and retry, never
 * fail or lose bytes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/**
 * Resolves once the decoder has made a read (or write) call that moved no
 * byte: on a descriptor left open, that is EAGAIN. /proc/PID/io counts the
 * process's calls (syscr, syscw) and the bytes they moved (rchar, wchar), so
 * a stretch with calls and no bytes is one; polled, since nothing signals it.
 */
async function emptyCallSeen(pid: number, direction: 'read' | 'write'): Promise<void> {
  const [calls, bytes] = direction === 'read' ? ['syscr', 'rchar'] : ['syscw', 'wchar'];
  const counters = () => {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    return [calls, bytes].map((name) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)![1]));
  };
  for (let [lastCalls, lastBytes] = counters(); ; ) {
    await pause(10);
    const [nowCalls, nowBytes] = counters();
    if (nowCalls! > lastCalls! && nowBytes === lastBytes) return;
    [lastCalls, lastBytes] = [nowCalls, nowBytes];
  }
}

describe('non-blocking stdin and stdout', () => {
  const keys = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');

  it('stdin non-blocking and empty mid-layer: waits, then every byte decrypted', { timeout: 60_000 }, async () => {
    const layer = await makeLayer(300_000);
    const { child, exited, collect } = startNonBlocking(keys, layer.payload);
    collect();
    // More than the held-back tail, so output shows the decoder is reading stdin, not fd 3.
    child.stdin!.write(layer.encrypted.subarray(0, 200_000));
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    await emptyCallSeen(child.pid!, 'read');
    child.stdin!.end(layer.encrypted.subarray(200_000));
    const { code, stderr, stdout } = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(stdout.equals(layer.plain));
  });

  it('stdout non-blocking and full: waits, then every byte written', { timeout: 60_000 }, async () => {
    const layer = await makeLayer(1_000_000);
    const { child, exited, collect } = startNonBlocking(keys, layer.payload);
    // Nobody reads stdout yet: it fills up, far short of the layer.
    child.stdin!.end(layer.encrypted);
    await emptyCallSeen(child.pid!, 'write');
    collect();
    const { code, stderr, stdout } = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(stdout.equals(layer.plain));
  });
});
