/**
 * Faults around the stream: containerd cancelling, slow or failing input,
 * signals, parallel unpacks, and every single-bit flip of a small layer.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants, openSync, closeSync, readSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { LayerDecryptor } from '../../src/operator/oci/layer-decrypt-transform.ts';
import { layerCipherOptions, parsePublicOptions } from '../../src/blockcipher/options.ts';
import { unwrapLayerKey } from '../../src/decode/unwrap-layer-key.ts';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { decodePayload } from '../../src/payload/payload.ts';
import { ERROR_LINE, fixtureKey, keysDirectoryWith, layerCaseNames, loadLayerCase, sha256 } from '../support/fixtures.ts';
import { encodePayload } from '../support/payload.ts';
import { DECODER_BIN, runDecoder } from '../support/run-decoder.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const layer = loadLayerCase('jwe', 'rsa2048-tar');
const keysDir = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem', 'ec256.pkcs8.pem', 'rsa4096.pkcs1.pem', 'ec384.pkcs8.pem', 'ec521.pkcs8.pem');
const args = ['--decryption-keys-path', keysDir];

/** Starts the decoder with a live stdin/stdout so a test can misbehave on either side. */
function startDecoder(payload: Buffer, env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(DECODER_BIN, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  (child.stdio[3] as NodeJS.WritableStream).end(payload);
  child.stdin!.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr: Buffer.concat(stderr).toString() })),
  );
  return { child, exited };
}

/** An endless, valid-looking stream of ciphertext so the decoder is mid-layer when the fault hits. */
function feedForever(stdin: NodeJS.WritableStream): void {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const write = () => {
    while ((stdin as Writable).write(chunk)) {
      /* fill the pipe */
    }
    stdin.once('drain', write);
  };
  write();
}

describe('faults', () => {
  it('stdout closed early (containerd cancelled): prompt exit, one coded line, no stack trace', async () => {
    const { child, exited } = startDecoder(encodePayload(layer.descriptor));
    child.stdout!.once('data', () => child.stdout!.destroy());
    feedForever(child.stdin!);
    const result = await exited;
    assert.notEqual(result.code, 0);
    if (result.stderr !== '') assert.match(result.stderr, ERROR_LINE);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'stack trace');
  });

  it('a failing decoder keeps stdout open past its exit, so containerd reads the exit status first', async () => {
    // stdout is a FIFO whose read end the test holds, non-blocking: once the
    // decoder's exit is seen, a read tells whether a writer still holds it
    // open (EAGAIN) or none does (end of file), however loaded the machine.
    const fifo = join(temporaryDirectory(), 'stdout');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    const child = spawn(DECODER_BIN, ['--decryption-keys-path', '/nonexistent'], {
      stdio: ['pipe', writer, 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'], CTD_DECODER_HOLD_OUTPUT_MS: '3000' },
    });
    closeSync(writer);
    (child.stdio[3] as NodeJS.WritableStream).end(encodePayload(layer.descriptor));
    child.stdin!.end(layer.encrypted);
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const closed = once(child, 'close');
    const stdoutHeld = () => {
      try {
        assert.equal(readSync(reader, Buffer.alloc(1)), 0, 'the failing decoder wrote to stdout');
        return false;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return true;
        throw error;
      }
    };
    try {
      const [exitCode] = await once(child, 'exit');
      assert.equal(stdoutHeld(), true, 'stdout was closed when the exit was seen');
      assert.equal(exitCode, 1);
      // And it is let go: the holder ends (end of file), or a pull would hang.
      while (stdoutHeld()) await delay(20);
    } finally {
      closeSync(reader);
    }
    await closed;
    assert.match(stderr, /^ctd-decoder: ERR_NO_KEY_SUPPLIED layer sha256:[0-9a-f]{64}: [^\n]+$/);
  });

  it('SIGTERM mid-stream: exits non-zero and leaves no temporary files', { timeout: 60_000 }, async () => {
    // A TMPDIR of its own: other test files run at the same time and write to the shared one.
    const decoderTmp = temporaryDirectory();
    const { child, exited } = startDecoder(encodePayload(layer.descriptor), { ...process.env, TMPDIR: decoderTmp });
    feedForever(child.stdin!);
    child.stdout!.resume();
    child.stdout!.once('data', () => child.kill('SIGTERM'));
    const result = await exited;
    assert.ok(result.code !== 0 || result.signal === 'SIGTERM');
    assert.deepEqual(readdirSync(decoderTmp), []);
  });

  it('stdin arriving one byte at a time: correct output', async () => {
    const { child, exited } = startDecoder(encodePayload(layer.descriptor));
    const out: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    const bytes = layer.encrypted;
    await pipeline(Readable.from((function* () { for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1); })()), child.stdin!);
    const result = await exited;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sha256(Buffer.concat(out)), sha256(layer.plain));
  });

  it('stdin that cannot be read (a directory): a clean coded error', async () => {
    const fd = openSync(tmpdir(), 'r');
    try {
      const child = spawn(DECODER_BIN, args, { stdio: [fd, 'pipe', 'pipe', 'pipe'] });
      (child.stdio[3] as NodeJS.WritableStream).end(encodePayload(layer.descriptor));
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, 1);
      assert.match(stderr, /^ctd-decoder: ERR_(INPUT|INTEGRITY) layer sha256:/);
      assert.match(stderr, ERROR_LINE);
    } finally {
      closeSync(fd);
    }
  });

  it('eight decoders at once on different layers: all byte-identical', async () => {
    const cases = layerCaseNames('jwe').filter((name) => !name.startsWith('two')).slice(0, 8).map((name) => loadLayerCase('jwe', name));
    assert.equal(cases.length, 8);
    const runs = await Promise.all(cases.map((c) => runDecoder({ args, stdin: c.encrypted, payload: encodePayload(c.descriptor) })));
    runs.forEach((run, i) => {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(sha256(run.stdout), sha256(cases[i]!.plain), cases[i]!.name);
    });
  });
});

describe('integrity', () => {
  it('every single-bit flip of a small layer fails authentication and never releases the whole plaintext', async () => {
    const small = loadLayerCase('jwe', 'ec256-gzip');
    const keys = assembleDecryptionKeys([{ path: 'k', bytes: fixtureKey('jwe', 'ec256.pkcs8.pem') }], new Map());
    const descriptor = decodePayload(encodePayload(small.descriptor)).descriptor;
    assert.ok(descriptor !== null, 'the fixture payload names its layer');
    const publicOptions = parsePublicOptions(Buffer.from(small.descriptor.annotations['org.opencontainers.image.enc.pubopts']!, 'base64'));
    const options = await unwrapLayerKey(descriptor, keys);
    const fresh = () => layerCipherOptions(publicOptions, Buffer.from(JSON.stringify({ symkey: keyCopy.toString('base64'), cipheroptions: { nonce: options.nonce.toString('base64') } })));
    const keyCopy = Buffer.from(options.symmetricKey);
    let flips = 0;
    for (let bit = 0; bit < small.encrypted.length * 8; bit++) {
      const tampered = Buffer.from(small.encrypted);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      let released = 0;
      const sink = new Writable({ write(chunk: Buffer, _e, cb) { released += chunk.length; cb(); } });
      await assert.rejects(pipeline(Readable.from([tampered]), new LayerDecryptor(fresh()), sink), { code: 'ERR_INTEGRITY' });
      assert.ok(released < small.plain.length);
      flips++;
    }
    assert.equal(flips, small.encrypted.length * 8);
  });

  for (const [what, cut] of [
    ['0 bytes', () => 0],
    ['1 byte', () => 1],
    ['mid-block', (n: number) => (n >> 1) - 7],
    ['all but the last byte', (n: number) => n - 1],
  ] as const) {
    it(`truncated to ${what}: ERR_INTEGRITY through the binary, shorter output`, async () => {
      const run = await runDecoder({ args, stdin: layer.encrypted.subarray(0, cut(layer.encrypted.length)), payload: encodePayload(layer.descriptor) });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^ctd-decoder: ERR_INTEGRITY /);
      assert.ok(run.stdout.length < layer.plain.length);
    });
  }
});
