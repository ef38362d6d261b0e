import { ImageError } from '../../errors.ts';

/**
 * Just enough of the tar format to find files in an OCI archive (what
 * `skopeo copy ... oci-archive:` writes) without unpacking it: ustar headers,
 * pax `path`/`size` records and GNU long names. Only headers are read; file
 * contents are located by offset.
 */
export interface TarEntry {
  /** Normalised path: no leading "./" or "/". */
  name: string;
  /** Where the file's data starts in the archive. */
  offset: number;
  size: number;
}

/** Reads `length` bytes at `offset` (fewer at the end of the archive). */
export type ReadAt = (offset: number, length: number) => Buffer;

const BLOCK = 512;
/** Pax headers and GNU long names are a few hundred bytes; larger ones are not read. */
const MAX_METADATA_BYTES = 1024 * 1024;

const NOT_TAR = 'give an OCI image layout directory, an OCI archive (tar) or a manifest JSON file';

/** The regular files of a tar archive of `archiveSize` bytes, by normalised path (a later entry wins, as when extracting). */
export function indexTar(read: ReadAt, archiveSize: number): Map<string, TarEntry> {
  const entries = new Map<string, TarEntry>();
  let offset = 0;
  let paxPath: string | null = null;
  let paxSize: number | null = null;
  let longName: string | null = null;
  while (offset + BLOCK <= archiveSize) {
    const header = read(offset, BLOCK);
    if (header.length < BLOCK) break;
    if (header.every((byte) => byte === 0)) break;
    if (!checksumMatches(header)) throw new ImageError(`not a tar archive (bad header checksum at byte ${offset})`, NOT_TAR);
    const type = String.fromCharCode(header[156]!);
    const isFile = type === '0' || type === '\0' || type === '7';
    // A pax size overrides the next file's ustar size (which cannot exceed 8 GiB), not the metadata entries'.
    const size = isFile && paxSize !== null ? paxSize : tarNumber(header.subarray(124, 136));
    const dataOffset = offset + BLOCK;
    if (dataOffset + size > archiveSize) throw new ImageError('the tar archive is truncated', NOT_TAR);
    switch (type) {
      case 'x':
        ({ path: paxPath, size: paxSize } = parsePax(readMetadata(read, dataOffset, size)));
        break;
      case 'L':
        longName = cString(readMetadata(read, dataOffset, size));
        break;
      case 'g':
        break;
      default: {
        if (isFile) {
          const name = normalise(paxPath ?? longName ?? ustarName(header));
          entries.set(name, { name, offset: dataOffset, size });
        }
        paxPath = null;
        paxSize = null;
        longName = null;
      }
    }
    offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}

function readMetadata(read: ReadAt, offset: number, size: number): Buffer {
  if (size > MAX_METADATA_BYTES) throw new ImageError(`tar metadata entry of ${size} bytes`, NOT_TAR);
  return read(offset, size);
}

function checksumMatches(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return tarNumber(header.subarray(148, 156)) === sum;
}

/** Octal ASCII, or GNU base-256 when the high bit of the first byte is set. */
function tarNumber(field: Buffer): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new ImageError('tar size field out of range', NOT_TAR);
    return value;
  }
  const text = cString(field).trim();
  if (!/^[0-7]*$/.test(text)) throw new ImageError('tar numeric field is not octal', NOT_TAR);
  return text === '' ? 0 : parseInt(text, 8);
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

function ustarName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const isUstar = header.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = isUstar ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** Pax records: "<length> <key>=<value>\n". */
function parsePax(bytes: Buffer): { path: string | null; size: number | null } {
  let path: string | null = null;
  let size: number | null = null;
  let position = 0;
  while (position < bytes.length) {
    const space = bytes.indexOf(0x20, position);
    const length = space === -1 ? NaN : Number(bytes.subarray(position, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= 0 || position + length > bytes.length) throw new ImageError('malformed pax header in tar archive', NOT_TAR);
    const record = bytes.subarray(space + 1, position + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') path = value;
    if (key === 'size') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new ImageError('malformed pax size in tar archive', NOT_TAR);
      size = Number(value);
    }
    position += length;
  }
  return { path, size };
}

function normalise(name: string): string {
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}
