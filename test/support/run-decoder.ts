import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { decoderCommand } from './paths.ts';
import { leakedSecret } from './secrets.ts';

export { DECODER_BIN, REPO_ROOT } from './paths.ts';

export interface DecoderRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface DecoderInput {
  args?: string[];
  stdin: Buffer;
  /** Bytes written to a pipe on fd 3 (as containerd does); 'none' = no fd 3; a path = that file opened on fd 3. */
  payload: Buffer | 'none' | { path: string };
  env?: NodeJS.ProcessEnv;
}

/** Runs the built binary the way containerd runs a stream processor. */
export function runDecoder(input: DecoderInput): Promise<DecoderRun> {
  const fileFd = typeof input.payload === 'object' && 'path' in input.payload ? openSync(input.payload.path, 'r') : null;
  const fd3 = input.payload === 'none' ? [] : fileFd !== null ? [fileFd] : ['pipe'];
  const child = spawn(...decoderCommand(input.args ?? []), {
    stdio: ['pipe', 'pipe', 'pipe', ...fd3] as never,
    // No output holder (see src/platform/failure-output.ts) unless a test asks for one: it would keep
    // our stdout pipe open 300 ms past every failing run.
    env: { CTD_DECODER_HOLD_OUTPUT_MS: '0', ...(input.env ?? { PATH: process.env['PATH'] }) },
  });
  if (fileFd !== null) closeSync(fileFd);
  if (Buffer.isBuffer(input.payload)) {
    const pipe = child.stdio[3] as NodeJS.WritableStream;
    pipe.on('error', () => {});
    pipe.end(input.payload);
  }
  child.stdin!.on('error', () => {});
  child.stdin!.end(input.stdin);
  return collectRun(child);
}

/** A started decoder's exit and output (stdout and stderr piped), once it closes; rejected if stderr shows a secret. */
export function collectRun(child: ChildProcess): Promise<DecoderRun> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const run = { code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') };
      const leaked = leakedSecret(run.stderr);
      if (leaked !== null) reject(new Error(`decoder printed a secret on stderr (${leaked.length} characters of key material or password)`));
      else resolve(run);
    });
  });
}
