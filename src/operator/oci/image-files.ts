import { closeSync, createReadStream, createWriteStream, readSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { DestinationError, ImageError, errorCode } from '../../errors.ts';
import { MAX_DOCUMENT_BYTES } from '../../limits.ts';
import { FIX_IMAGE, sha256Digest, type Descriptor } from './image.ts';
import type { BlobWriter, ImageDestination, ImageSource } from './image-io.ts';
import { indexTar, type TarEntry } from './tar.ts';
import { openRegularFile, readSmallRegularFile } from '../../platform/small-file.ts';

/** What the operator pointed at: an image to walk, or a single JSON document (manifest, index or descriptor). */
export type OpenedImage = { kind: 'layout' | 'archive'; source: ImageSource } | { kind: 'document'; location: string; bytes: Buffer };

const USAGE_HINT = 'give an OCI image layout directory, an OCI archive (tar) or a manifest JSON file';

export function openImage(path: string): OpenedImage {
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new ImageError(`cannot open ${path} (${errorCode(error)})`, USAGE_HINT);
  }
  if (stats.isDirectory()) return { kind: 'layout', source: layoutSource(path) };
  const opened = openRegularFile(path);
  if (!opened.ok) {
    if (opened.failure === 'not-regular') throw new ImageError(`${path} is neither a directory nor a file`, USAGE_HINT);
    throw new ImageError(`cannot open ${path} (${opened.failure === 'unreadable' ? opened.code : 'ENOENT'})`, USAGE_HINT);
  }
  const { fd, size } = opened;
  try {
    const head = Buffer.alloc(512);
    const length = readSync(fd, head, 0, head.length, 0);
    if (length === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') {
      return { kind: 'archive', source: archiveSource(path, fd, size) };
    }
    if (size > MAX_DOCUMENT_BYTES) throw new ImageError(`${path} is too large for a manifest and is not a tar archive`, USAGE_HINT);
    const bytes = readDocument(fd, path, 0, size);
    closeSync(fd);
    return { kind: 'document', location: path, bytes };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * A manifest or an index, read whole: refused when larger than
 * MAX_DOCUMENT_BYTES, before any is read, so a hostile layout or tar header
 * cannot make the decoder allocate what it claims.
 */
function readDocument(fd: number, where: string, offset: number, size: number): Buffer {
  if (size > MAX_DOCUMENT_BYTES) throw new ImageError(`${where} is ${size} bytes, too large for an index or manifest (limit ${MAX_DOCUMENT_BYTES})`, FIX_IMAGE);
  const buffer = Buffer.alloc(size);
  let filled = 0;
  while (filled < size) {
    const count = readSync(fd, buffer, filled, size - filled, offset + filled);
    if (count === 0) break;
    filled += count;
  }
  return buffer.subarray(0, filled);
}

function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return join('blobs', algorithm!, hex!);
}

/** An OCI image layout directory: oci-layout, index.json, blobs/<alg>/<hex>. */
function layoutSource(directory: string): ImageSource {
  const read = (relative: string, what: string): Buffer => {
    const file = readSmallRegularFile(join(directory, relative), MAX_DOCUMENT_BYTES);
    if (file.ok) return file.bytes;
    switch (file.failure) {
      case 'not-regular':
        throw new ImageError(`${directory} ${what} is not a regular file`, FIX_IMAGE);
      case 'too-large':
        throw new ImageError(`${directory} ${what} is larger than ${MAX_DOCUMENT_BYTES} bytes, too large for an index or manifest`, FIX_IMAGE);
      default:
        throw new ImageError(
          `${directory} has no readable ${what} (${file.failure === 'unreadable' ? file.code : 'ENOENT'})`,
          `${USAGE_HINT}; is ${directory} an OCI image layout?`,
        );
    }
  };
  read('oci-layout', 'oci-layout file');
  return {
    location: directory,
    readIndex: async () => read('index.json', 'index.json'),
    readBlob: async (descriptor) => read(blobPath(descriptor.digest), `blob ${descriptor.digest}`),
    openBlob: (descriptor) => {
      const file = join(directory, blobPath(descriptor.digest));
      if (statSync(file, { throwIfNoEntry: false })?.isFile() !== true) {
        throw new ImageError(`${directory} has no blob ${descriptor.digest}`, FIX_IMAGE);
      }
      return createReadStream(file);
    },
  };
}

/** An OCI archive: the same layout in one tar file, read in place through its header index. */
function archiveSource(path: string, fd: number, size: number): ImageSource {
  const entries = indexTar((offset, length) => {
    const buffer = Buffer.alloc(length);
    return buffer.subarray(0, readSync(fd, buffer, 0, length, offset));
  }, size);
  const entry = (name: string, what: string): TarEntry => {
    const found = entries.get(name);
    if (found === undefined) throw new ImageError(`${path} has no ${what}`, `${USAGE_HINT}; is ${path} an OCI archive?`);
    return found;
  };
  const readEntry = (name: string, what: string): Buffer => {
    const found = entry(name, what);
    return readDocument(fd, `${path} ${what}`, found.offset, found.size);
  };
  entry('oci-layout', 'oci-layout file');
  return {
    location: path,
    readIndex: async () => readEntry('index.json', 'index.json'),
    readBlob: async (descriptor: Descriptor) => readEntry(blobPath(descriptor.digest), `blob ${descriptor.digest}`),
    openBlob: (descriptor: Descriptor) => {
      const found = entry(blobPath(descriptor.digest), `blob ${descriptor.digest}`);
      if (found.size === 0) return Readable.from([]);
      return createReadStream(path, { start: found.offset, end: found.offset + found.size - 1 });
    },
  };
}

const OCI_LAYOUT = `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`;

/**
 * A new OCI image layout, built in a sibling directory and renamed into
 * place by `commit`, so a failed run never leaves a half-written image at
 * the destination. The destination must not exist (or be an empty directory).
 */
export async function createLayoutDestination(destination: string): Promise<ImageDestination & { abort(): Promise<void> }> {
  const existing = statSync(destination, { throwIfNoEntry: false });
  if (existing !== undefined && !(existing.isDirectory() && (await isEmptyDirectory(destination)))) {
    throw new DestinationError(`${destination} already exists`, 'give a new directory for the decrypted layout');
  }
  let work: string;
  try {
    work = await mkdtemp(join(dirname(destination), `.${basename(destination)}.partial-`));
    await mkdir(join(work, 'blobs', 'sha256'), { recursive: true });
  } catch (error) {
    throw new DestinationError(`cannot create ${destination} (${errorCode(error)})`, 'check that the parent directory exists and is writable');
  }
  let pending = 0;
  const place = async (temporary: string, digest: string): Promise<void> => {
    const [algorithm] = digest.split(':');
    await mkdir(join(work, 'blobs', algorithm!), { recursive: true });
    await rename(temporary, join(work, blobPath(digest)));
  };
  const asDestinationError = async <T>(action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      if (error instanceof DestinationError || !(error instanceof Error) || !('code' in error)) throw error;
      throw new DestinationError(`cannot write ${destination} (${String(error.code)})`, 'check free space and permissions');
    }
  };
  return {
    writeBlob: (bytes) =>
      asDestinationError(async () => {
        const temporary = join(work, `incoming-${pending++}`);
        await writeFile(temporary, bytes);
        await place(temporary, sha256Digest(bytes));
      }),
    openBlobWriter: (): BlobWriter => {
      const temporary = join(work, `incoming-${pending++}`);
      return {
        stream: createWriteStream(temporary, { flags: 'wx', mode: 0o644 }),
        finish: (digest) => asDestinationError(() => place(temporary, digest)),
      };
    },
    commit: (index) =>
      asDestinationError(async () => {
        await writeFile(join(work, 'oci-layout'), OCI_LAYOUT);
        await writeFile(join(work, 'index.json'), index);
        if (existing !== undefined) await rmdir(destination);
        // mkdtemp made the directory private; the finished layout is an ordinary one.
        await chmod(work, 0o755);
        await rename(work, destination);
      }),
    abort: () => rm(work, { recursive: true, force: true }),
  };
}

async function isEmptyDirectory(path: string): Promise<boolean> {
  return (await readdir(path)).length === 0;
}
