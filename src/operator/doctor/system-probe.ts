import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseContainerdVersion, type ContainerdVersion } from '../containerd/version.ts';
import type { DoctorProbe, FileFacts } from './diagnose.ts';
import type { KeyInventoryEntry } from '../key-inventory.ts';
import { describeSmallFileFailure, readSmallRegularFile } from '../../platform/small-file.ts';

const MAX_TEXT_FILE_BYTES = 1024 * 1024;
/** A --version that takes longer than this is not an answer. */
const VERSION_TIMEOUT_MS = 5000;

/** The machine as doctor sees it: files, PATH, the programs the config names. */
export function systemProbe(keyInventory: (directory: string) => Promise<KeyInventoryEntry[]>): DoctorProbe {
  return {
    fileFacts,
    lookPath,
    readTextFile: (path) => {
      const read = readSmallRegularFile(path, MAX_TEXT_FILE_BYTES);
      if (read.ok) return { text: read.bytes.toString('utf8') };
      return read.failure === 'missing' ? null : { error: describeSmallFileFailure(read) };
    },
    versionOf: (path) => firstLineOf(path, ['--version']),
    keyInventory,
  };
}

function fileFacts(path: string): FileFacts | null {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) return null;
  let executable = false;
  try {
    accessSync(path, constants.X_OK);
    executable = stats.isFile();
  } catch {
    // Not executable by us.
  }
  return { kind: stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other', mode: stats.mode & 0o7777, uid: stats.uid, executable };
}

/** exec.LookPath's answer for a bare command name, on our PATH. */
export function lookPath(command: string): string | null {
  for (const directory of (process.env['PATH'] ?? '').split(delimiter)) {
    if (directory === '') continue;
    const candidate = join(directory, command);
    if (fileFacts(candidate)?.executable) return candidate;
  }
  return null;
}

function firstLineOf(path: string, args: string[]): string | null {
  const run = spawnSync(path, args, { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.error !== undefined || run.status !== 0) return null;
  return run.stdout.split('\n')[0]?.trim() || null;
}

/** The containerd on PATH and its version, or null when there is none. */
export function installedContainerd(): { path: string; version: ContainerdVersion | null; output: string } | null {
  const path = lookPath('containerd');
  if (path === null) return null;
  const output = firstLineOf(path, ['--version']) ?? '';
  return { path, version: parseContainerdVersion(output), output };
}
