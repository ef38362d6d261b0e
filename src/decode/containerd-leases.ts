/**
 * Reading containerd's metadata database (bbolt, io.containerd.metadata.v1.bolt/meta.db)
 * for one thing: the leases that hold a blob. containerd fetches an image
 * under a lease and adds every blob it stores or finds (manifest, config,
 * layers) to it, and the lease lives until the pull has unpacked; so while
 * we decode a layer, its manifest is among the blobs of the lease that holds
 * the layer. Leases are few: a handful of page reads replace a scan of the
 * whole content store. A hint only: the file may be changing under us, every
 * read is bounded, and callers check each candidate as a manifest.
 *
 * bbolt's format: pages of `pageSize` bytes, each a 16-byte header (id u64,
 * flags u16, count u16, overflow u32) and `count` 16-byte elements; a branch
 * element is (pos u32, ksize u32, child pgid u64), a leaf element (flags u32,
 * pos u32, ksize u32, vsize u32), pos counted from the element itself, the
 * value right after the key. A bucket's value is (root pgid u64, sequence
 * u64), followed by the bucket's own page when it is inline (root 0).
 * Pages 0 and 1 are the two meta pages; the one with the higher txid and a
 * valid checksum is current. containerd's layout: v1 / <namespace> / leases /
 * <lease id> / content / <digest>.
 */

/** Reads `length` bytes at `offset` of the database file; fewer at its end, null if it cannot. */
export type ReadAt = (offset: number, length: number) => Buffer | null;

const MAGIC = 0xed0cdaed;
const VERSION = 2;
const BRANCH_PAGE = 0x01;
const LEAF_PAGE = 0x02;
const BUCKET_ENTRY = 0x01;
const HEADER_BYTES = 16;
const ELEMENT_BYTES = 16;

/** Page reads one lookup may make, whatever the file holds. */
const MAX_PAGE_READS = 256;
/** Largest page size accepted (bbolt uses the OS page size). */
const MAX_PAGE_SIZE = 64 * 1024;
/** Overflow pages accepted for one page (a big leaf). */
const MAX_OVERFLOW = 64;

interface Bucket {
  /** The root page id; 0 when the bucket is inline. */
  root: number;
  /** The inline bucket's page. */
  inline: Buffer | null;
}

interface Entry {
  key: Buffer;
  value: Buffer;
  isBucket: boolean;
}

class BoundExceeded extends Error {}

class BoltReader {
  readonly #readAt: ReadAt;
  readonly #pageSize: number;
  #reads = 0;

  constructor(readAt: ReadAt, pageSize: number) {
    this.#readAt = readAt;
    this.#pageSize = pageSize;
  }

  #page(id: number): Buffer | null {
    if (++this.#reads > MAX_PAGE_READS) throw new BoundExceeded();
    const first = this.#readAt(id * this.#pageSize, this.#pageSize);
    if (first === null || first.length < HEADER_BYTES || readU64(first, 0) !== id) return null;
    const overflow = first.readUInt32LE(12);
    if (overflow === 0) return first;
    if (overflow > MAX_OVERFLOW) return null;
    return this.#readAt(id * this.#pageSize, (overflow + 1) * this.#pageSize);
  }

  /** The bucket a bucket entry's value describes. */
  static bucketOf(value: Buffer): Bucket | null {
    if (value.length < 16) return null;
    const root = readU64(value, 0);
    return root === 0 ? { root, inline: value.subarray(16) } : { root, inline: null };
  }

  /** Every entry of a bucket, in key order. */
  *entries(bucket: Bucket): Generator<Entry> {
    if (bucket.inline !== null) {
      yield* leafEntries(bucket.inline);
      return;
    }
    yield* this.#entriesBelow(bucket.root, 0);
  }

  *#entriesBelow(id: number, depth: number): Generator<Entry> {
    if (depth > 32) return;
    const page = this.#page(id);
    if (page === null) return;
    const flags = page.readUInt16LE(8);
    if (flags & LEAF_PAGE) {
      yield* leafEntries(page);
    } else if (flags & BRANCH_PAGE) {
      for (const child of branchChildren(page)) yield* this.#entriesBelow(child, depth + 1);
    }
  }

  /** The sub-bucket `name` of a bucket, or null. */
  bucket(parent: Bucket, name: string): Bucket | null {
    const key = Buffer.from(name);
    for (const entry of this.entries(parent)) {
      if (entry.isBucket && entry.key.equals(key)) return BoltReader.bucketOf(entry.value);
    }
    return null;
  }
}

/** A leaf page's entries; malformed elements end the page. */
function* leafEntries(page: Buffer): Generator<Entry> {
  if (page.length < HEADER_BYTES || !(page.readUInt16LE(8) & LEAF_PAGE)) return;
  const count = page.readUInt16LE(10);
  for (let i = 0; i < count; i++) {
    const element = HEADER_BYTES + i * ELEMENT_BYTES;
    if (element + ELEMENT_BYTES > page.length) return;
    const keyStart = element + page.readUInt32LE(element + 4);
    const keyEnd = keyStart + page.readUInt32LE(element + 8);
    const valueEnd = keyEnd + page.readUInt32LE(element + 12);
    if (valueEnd > page.length) return;
    yield { key: page.subarray(keyStart, keyEnd), value: page.subarray(keyEnd, valueEnd), isBucket: (page.readUInt32LE(element) & BUCKET_ENTRY) !== 0 };
  }
}

function branchChildren(page: Buffer): number[] {
  const children: number[] = [];
  const count = page.readUInt16LE(10);
  for (let i = 0; i < count; i++) {
    const element = HEADER_BYTES + i * ELEMENT_BYTES;
    if (element + ELEMENT_BYTES > page.length) break;
    children.push(readU64(page, element + 8));
  }
  return children;
}

/** A u64 that must fit a JavaScript number (page ids and txids do); else -1. */
function readU64(bytes: Buffer, offset: number): number {
  const value = bytes.readBigUInt64LE(offset);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : -1;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/** bbolt's meta checksum: FNV-1a 64 over the meta fields before it. */
function fnv1a64(bytes: Buffer): bigint {
  let hash = FNV_OFFSET;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & U64;
  return hash;
}

/** The current meta page's page size and root bucket, or null when neither meta page is valid. */
function currentMeta(readAt: ReadAt): { pageSize: number; root: Bucket } | null {
  let best: { pageSize: number; root: Bucket; txid: number } | null = null;
  const first = readAt(0, 4096);
  if (first === null || first.length < 80) return null;
  const pageSize = first.readUInt32LE(24);
  if (pageSize < 512 || pageSize > MAX_PAGE_SIZE) return null;
  for (const offset of [0, pageSize]) {
    const page = offset === 0 ? first : readAt(offset, 80);
    if (page === null || page.length < 80) continue;
    // meta: magic, version, pageSize, flags, root {pgid, sequence}, freelist, pgid, txid, checksum
    if (page.readUInt32LE(16) !== MAGIC || page.readUInt32LE(20) !== VERSION || page.readUInt32LE(24) !== pageSize) continue;
    if (fnv1a64(page.subarray(16, 72)) !== page.readBigUInt64LE(72)) continue;
    const txid = readU64(page, 64);
    const root = readU64(page, 32);
    if (root > 1 && (best === null || txid > best.txid)) best = { pageSize, root: { root, inline: null }, txid };
  }
  return best === null ? null : { pageSize: best.pageSize, root: best.root };
}

/**
 * The other blobs (digests) of every lease, in any namespace, that holds
 * `digest`: the manifest of a layer being pulled is among them. Empty when
 * the database cannot be read, has no such lease, or the bounds are reached.
 */
export function leaseSiblings(readAt: ReadAt, digest: string): string[] {
  const meta = currentMeta(readAt);
  if (meta === null) return [];
  const bolt = new BoltReader(readAt, meta.pageSize);
  const siblings: string[] = [];
  try {
    const v1 = bolt.bucket(meta.root, 'v1');
    if (v1 === null) return [];
    for (const namespace of bolt.entries(v1)) {
      const namespaceBucket = namespace.isBucket ? BoltReader.bucketOf(namespace.value) : null;
      const leases = namespaceBucket === null ? null : bolt.bucket(namespaceBucket, 'leases');
      if (leases === null) continue;
      for (const lease of bolt.entries(leases)) {
        const leaseBucket = lease.isBucket ? BoltReader.bucketOf(lease.value) : null;
        const content = leaseBucket === null ? null : bolt.bucket(leaseBucket, 'content');
        if (content === null) continue;
        const held = [...bolt.entries(content)].map((entry) => entry.key.toString('latin1'));
        if (!held.includes(digest)) continue;
        for (const key of held) if (key !== digest && !siblings.includes(key)) siblings.push(key);
      }
    }
  } catch (error) {
    if (!(error instanceof BoundExceeded)) throw error;
  }
  return siblings;
}
