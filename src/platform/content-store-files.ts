import { closeSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openRegularFile } from './small-file.ts';

/** containerd's content plugin directory under its root. */
export const CONTENT_PLUGIN_DIRECTORY = 'io.containerd.content.v1.content';

const METADATA_FILE = join('io.containerd.metadata.v1.bolt', 'meta.db');

const SHA256_HEX = /^[0-9a-f]{64}$/;
const OPEN_BLOB = new RegExp(`^(.*/${CONTENT_PLUGIN_DIRECTORY.replace(/\./g, '\\.')})/blobs/sha256/([0-9a-f]{64})$`);

/** A blob file in a content store: its sha256 (hex) and when it was written. */
export interface BlobEntry {
  hex: string;
  size: number;
  modifiedMs: number;
}

/**
 * A containerd content store on disk (`<root>/io.containerd.content.v1.content`):
 * blobs/sha256/<hex>, each file named by its own digest. containerd writes a
 * blob there only after checking that digest, and only root may write there.
 */
export class ContentStoreFiles {
  readonly directory: string;
  readonly #blobs: string;

  private constructor(directory: string) {
    this.directory = directory;
    this.#blobs = join(directory, 'blobs', 'sha256');
  }

  /**
   * The content store at `path`: containerd's root or its content plugin
   * directory itself. null when neither has a blobs/sha256 directory.
   */
  static at(path: string): ContentStoreFiles | null {
    for (const directory of [join(path, CONTENT_PLUGIN_DIRECTORY), path]) {
      if (statSync(join(directory, 'blobs', 'sha256'), { throwIfNoEntry: false })?.isDirectory()) return new ContentStoreFiles(directory);
    }
    return null;
  }

  blobPath(hex: string): string {
    return join(this.#blobs, hex);
  }

  /**
   * Every sha256 blob with its size and time, newest first (an image's
   * manifest is written just before its layers are unpacked). One stat per
   * blob and no read: the cheap part of a scan.
   */
  blobsNewestFirst(): BlobEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.#blobs);
    } catch {
      return [];
    }
    const entries: BlobEntry[] = [];
    for (const hex of names) {
      if (!SHA256_HEX.test(hex)) continue;
      const stats = statSync(join(this.#blobs, hex), { throwIfNoEntry: false });
      if (stats?.isFile()) entries.push({ hex, size: stats.size, modifiedMs: stats.mtimeMs });
    }
    return entries.sort((a, b) => b.modifiedMs - a.modifiedMs);
  }

  /**
   * Runs `use` with positional reads of containerd's metadata database
   * beside this store (<root>/io.containerd.metadata.v1.bolt/meta.db, which
   * containerd may be writing: hints only); null when it cannot be opened.
   */
  withMetadata<T>(use: (readAt: (offset: number, length: number) => Buffer | null) => T): T | null {
    const opened = openRegularFile(join(this.directory, '..', METADATA_FILE));
    if (!opened.ok) return null;
    const { fd } = opened;
    try {
      return use((offset, length) => {
        const bytes = Buffer.allocUnsafe(length);
        try {
          return bytes.subarray(0, readSync(fd, bytes, 0, length, offset));
        } catch {
          return null;
        }
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Up to `length` bytes from the blob's start; null when it cannot be read. */
  readStart(hex: string, length: number): Buffer | null {
    return readFileStart(this.blobPath(hex), length);
  }
}

/**
 * The first `length` bytes of a regular file (fewer if it is shorter), or
 * null. Opened as platform/small-file.ts opens files, so that a FIFO planted
 * where a blob belongs cannot stall us.
 */
export function readFileStart(path: string, length: number, into: Buffer = Buffer.allocUnsafe(length)): Buffer | null {
  const opened = openRegularFile(path);
  if (!opened.ok) return null;
  const { fd } = opened;
  try {
    let filled = 0;
    while (filled < length) {
      const read = readSync(fd, into, filled, length - filled, filled);
      if (read === 0) break;
      filled += read;
    }
    return into.subarray(0, filled);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** A content-store blob a process has open: which store, which digest. */
export interface OpenBlob {
  contentStore: string;
  hex: string;
}

/**
 * The content-store blobs process `pid` has open, from /proc/<pid>/fd,
 * newest descriptor first (the lowest free number is taken, so the files
 * opened last mostly have the highest): while containerd runs a stream
 * processor it holds the layer it streams to it open (and others, when it
 * unpacks several layers at once). Read lazily, so a caller that finds its
 * blob early reads no further. Nothing when the process cannot be
 * inspected (not ours to read, gone, not Linux).
 */
export function* openContentBlobs(pid: number): Generator<OpenBlob> {
  const fdDirectory = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(fdDirectory);
  } catch {
    return;
  }
  const seen = new Set<string>();
  for (const fd of fds.map(Number).sort((a, b) => b - a)) {
    let target: string;
    try {
      target = readlinkSync(`${fdDirectory}/${fd}`);
    } catch {
      continue;
    }
    const match = OPEN_BLOB.exec(target);
    if (match === null || seen.has(match[2]!)) continue;
    seen.add(match[2]!);
    yield { contentStore: match[1]!, hex: match[2]! };
  }
}

/** Process `pid`'s command line, or null when it cannot be read. */
export function commandLineOf(pid: number): string[] | null {
  const bytes = readFileStart(`/proc/${pid}/cmdline`, 64 * 1024);
  if (bytes === null || bytes.length === 0) return null;
  return bytes.toString('utf8').split('\0').filter((arg, i, all) => i < all.length - 1 || arg !== '');
}
