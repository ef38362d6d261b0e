import { spawn } from 'node:child_process';
import { errorCode } from '../errors.ts';
import type { CommandOutcome } from '../keywrap/key-provider/command.ts';

/** The reply is a few hundred bytes of JSON; stderr is only kept to explain a failure. */
const MAX_REPLY_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 4096;

export interface ProviderCommand {
  path: string;
  args: readonly string[];
}

/**
 * Runs a key-provider command as ocicrypt does: no shell, our environment,
 * the request on stdin, the reply on stdout. It gets its own process group so
 * that the time limit also ends whatever it started (a wrapper script's
 * child). Never rejects: every way it can end is an outcome.
 */
export function runProviderCommand(command: ProviderCommand, input: Buffer, timeoutMs: number): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let settled = false;
    const child = spawn(command.path, command.args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, shell: false });
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const finish = (outcome: CommandOutcome, kill: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (kill) killGroup();
      // A grandchild may still hold the pipes open: stop reading them.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timed-out', stderr: Buffer.concat(stderr) }, true), timeoutMs);

    child.on('error', (error) => finish({ kind: 'not-started', code: errorCode(error, error.message) }, false));
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_REPLY_BYTES) finish({ kind: 'too-large', limit: MAX_REPLY_BYTES }, true);
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderrBytes < MAX_STDERR_BYTES) stderr.push(chunk.subarray(0, MAX_STDERR_BYTES - stderrBytes));
      stderrBytes += chunk.length;
    });
    child.on('close', (code, signal) =>
      finish({ kind: 'exited', code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) }, false),
    );
    // A provider may exit without reading its input; that is its exit status's business.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
