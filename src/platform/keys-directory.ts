import { type Stats, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { KeysDirectoryError, errorCode } from '../errors.ts';
import type { KeyFile } from '../keys/decryption-keys.ts';
import { describeSmallFileFailure, readSmallRegularFile } from './small-file.ts';

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface KeysDirectoryContents {
  files: KeyFile[];
  skipped: SkippedFile[];
  /** The directory does not exist: no keys from it, which is not an error by itself. */
  missing: boolean;
}

export const KEYS_DIRECTORY_LIMITS = { maxFiles: 1000, maxDepth: 16, maxFileBytes: 4 * 1024 * 1024, maxTotalBytes: 64 * 1024 * 1024 };

/**
 * Reads every key file below `root`, in lexical order.
 *
 * Symlinks are followed when their target stays inside the keys directory:
 * that is how Kubernetes Secret and ConfigMap volumes present files
 * (`key.pem -> ..data/key.pem`), and it keeps the directory self-contained.
 * Entries named `..*` are the volume's internal copies and are not walked,
 * and a file reached twice is read once. FIFOs, sockets and devices are never
 * opened, so nothing in the directory can block the decoder.
 */
export function readKeysDirectory(root: string): KeysDirectoryContents {
  const contents: KeysDirectoryContents = { files: [], skipped: [], missing: false };
  let realRoot: Buffer;
  try {
    realRoot = realpathSync(root, { encoding: 'buffer' });
    if (!statSync(realRoot).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    readdirSync(realRoot);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return { ...contents, missing: true };
    throw new KeysDirectoryError(
      `cannot read keys directory ${root} (${code})`,
      'make --decryption-keys-path a directory readable by containerd (root), or remove the argument',
    );
  }
  // Paths stay raw bytes (Buffers) so that file names which are not UTF-8 are still read;
  // latin1 strings of those bytes serve as exact keys for comparisons.
  const rootPrefix = Buffer.concat([realRoot, SEPARATOR]).toString('latin1');
  const inside = (target: Buffer) => target.equals(realRoot) || target.toString('latin1').startsWith(rootPrefix);
  const seen = new Set<string>();
  let totalBytes = 0;
  let walkCut = false;

  /** A directory we may read but not search (rootless containerd), or EIO, skips the entry instead of failing the run. */
  const statOrSkip = (stat: () => Stats | undefined, shown: string): Stats | undefined | null => {
    try {
      return stat();
    } catch (error) {
      contents.skipped.push({ path: shown, reason: `not readable (${errorCode(error)})` });
      return null;
    }
  };

  const visit = (realDir: Buffer, shownDir: string, depth: number): void => {
    let names: Buffer[];
    try {
      names = readdirSync(realDir, { encoding: 'buffer' }).sort(Buffer.compare);
    } catch (error) {
      contents.skipped.push({ path: shownDir, reason: `directory not readable (${errorCode(error)})` });
      return;
    }
    for (const name of names) {
      if (walkCut) return;
      if (name[0] === DOT && name[1] === DOT) continue;
      const shown = join(shownDir, name.toString('utf8'));
      let target = Buffer.concat([realDir, SEPARATOR, name]);
      let stats = statOrSkip(() => lstatSync(target, { throwIfNoEntry: false }), shown);
      if (stats === null) continue;
      const viaSymlink = stats?.isSymbolicLink() ?? false;
      if (viaSymlink) {
        try {
          target = realpathSync(target, { encoding: 'buffer' });
        } catch {
          contents.skipped.push({ path: shown, reason: 'dangling symlink' });
          continue;
        }
        if (!inside(target)) {
          contents.skipped.push({ path: shown, reason: 'symlink points outside the keys directory' });
          continue;
        }
        const resolved = target;
        stats = statOrSkip(() => statSync(resolved, { throwIfNoEntry: false }), shown);
        if (stats === null) continue;
      }
      if (stats === undefined || seen.has(target.toString('latin1'))) continue;
      seen.add(target.toString('latin1'));
      if (stats.isDirectory()) {
        if (depth >= KEYS_DIRECTORY_LIMITS.maxDepth) contents.skipped.push({ path: shown, reason: 'directory nested too deeply' });
        else visit(target, shown, depth + 1);
      } else if (!stats.isFile()) {
        contents.skipped.push({ path: shown, reason: 'not a regular file' });
      } else if (contents.files.length >= KEYS_DIRECTORY_LIMITS.maxFiles) {
        contents.skipped.push({ path: shown, reason: `more than ${KEYS_DIRECTORY_LIMITS.maxFiles} files in the keys directory; the rest is not read` });
        walkCut = true;
        return;
      } else {
        const read = readRegularFile(target);
        if (typeof read === 'string') {
          contents.skipped.push({ path: shown, reason: read });
        } else if (totalBytes + read.length > KEYS_DIRECTORY_LIMITS.maxTotalBytes) {
          contents.skipped.push({ path: shown, reason: `keys directory holds more than ${KEYS_DIRECTORY_LIMITS.maxTotalBytes} bytes` });
        } else {
          totalBytes += read.length;
          contents.files.push({ path: shown, bytes: read, mode: stats.mode & 0o7777, viaSymlink });
        }
      }
    }
  };
  visit(realRoot, root, 0);
  return contents;
}

const SEPARATOR = Buffer.from(sep);
const DOT = 0x2e;

/** Reads a file that must still be regular and small when opened; returns the reason otherwise. */
function readRegularFile(path: Buffer): Buffer | string {
  const read = readSmallRegularFile(path, KEYS_DIRECTORY_LIMITS.maxFileBytes);
  return read.ok ? read.bytes : describeSmallFileFailure(read);
}
