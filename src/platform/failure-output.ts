import { fstatSync, writeSync } from 'node:fs';

const STDOUT = 1;
const STDERR = 2;

/** How long a failing decoder's stdout stays open past its exit (0 turns it off). */
const HOLD_OUTPUT_VARIABLE = 'CTD_DECODER_HOLD_OUTPUT_MS';
const DEFAULT_HOLD_MS = 300;
const MAX_HOLD_MS = 5000;

/** Set only in the helper process holdOutputPastExit starts: how long it lives. */
export const OUTPUT_HOLDER_VARIABLE = 'CTD_DECODER_OUTPUT_HOLDER_MS';

/**
 * The one error line. containerd turns our whole stderr into the pull error,
 * so a trailing newline would end up inside the message ("…\n: unknown");
 * a terminal gets one.
 */
export function writeErrorLine(line: string): void {
  // Loaded here, not at start-up: the success path never needs it.
  const { isatty } = process.getBuiltinModule('node:tty');
  writeSync(STDERR, isatty(STDERR) ? `${line}\n` : line);
}

/**
 * containerd reads a stream processor's exit status racily (containerd#6914):
 * when a failing decoder's stdout closes in the same instant it exits,
 * containerd may finish the layer first and report "wrong diff id calculated
 * on extraction" instead of our error line (how often: docs/troubleshooting.md).
 * A short-lived helper that inherits only stdout keeps it open past our exit,
 * so containerd collects the exit status and stderr first. Failures only,
 * and only when stdout is a pipe (containerd's) or a socket.
 */
export function holdOutputPastExit(env: NodeJS.ProcessEnv): void {
  const setting = env[HOLD_OUTPUT_VARIABLE];
  const milliseconds = setting === undefined || !/^\d+$/.test(setting) ? DEFAULT_HOLD_MS : Math.min(Number(setting), MAX_HOLD_MS);
  if (milliseconds === 0) return;
  try {
    const stdout = fstatSync(STDOUT);
    if (!stdout.isFIFO() && !stdout.isSocket()) return;
    const { spawn } = process.getBuiltinModule('node:child_process');
    const holder = spawn(process.execPath, [], {
      detached: true,
      stdio: ['ignore', 'inherit', 'ignore'],
      env: { [OUTPUT_HOLDER_VARIABLE]: String(milliseconds) },
    });
    holder.on('error', () => {});
    holder.unref();
  } catch {
    // Best effort: without the helper, containerd may show its own message instead of ours.
  }
}

/** The helper's whole life: keep the inherited stdout open, then exit. */
export function holdInheritedOutput(milliseconds: string): void {
  setTimeout(() => {}, Math.min(Number(milliseconds) || 0, MAX_HOLD_MS));
}
