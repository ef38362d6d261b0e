/**
 * Peak memory of one command, as a node pays for it:
 *
 *   node test/bench/peak-memory.ts COMMAND [ARGS...]
 *
 * runs COMMAND (stdio inherited; `bash -c "exec ..."` for redirections: the
 * pid stays the same across exec) and samples /proc/PID/status every
 * millisecond until it exits. Prints `ANON_KIB<TAB>RSS_KIB<TAB>FILE_KIB<TAB>SECONDS`:
 * the highest RssAnon seen (private memory: heap, stacks, buffers, what the
 * kernel cannot drop), the highest VmHWM (all resident pages), the highest
 * RssFile (file pages mapped and touched, mostly the executable's: the kernel
 * can drop them and shares them with every other run of the same file) and
 * the wall time. Exits with the command's status.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [command, ...args] = process.argv.slice(2);
if (!command) throw new Error('usage: peak-memory.ts COMMAND [ARGS...]');

const started = process.hrtime.bigint();
const child = spawn(command, args, { stdio: 'inherit' });
let anonKiB = 0;
let rssKiB = 0;
let fileKiB = 0;
const field = (status: string, name: string) => Number(new RegExp(`^${name}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
const sample = () => {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    if (/^State:\s*Z/m.test(status)) return; // a zombie has released its memory
    anonKiB = Math.max(anonKiB, field(status, 'RssAnon'));
    rssKiB = Math.max(rssKiB, field(status, 'VmHWM'));
    fileKiB = Math.max(fileKiB, field(status, 'RssFile'));
  } catch {
    // exited between two samples
  }
};
const timer = setInterval(sample, 1);
child.on('exit', (code, signal) => {
  clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`${anonKiB}\t${rssKiB}\t${fileKiB}\t${seconds.toFixed(3)}`);
  process.exitCode = code ?? (signal ? 1 : 0);
});
