import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import { BlobNotFoundError, ContentStoreNotFoundError } from '../errors.ts';
import { encryptedLayersOf } from '../payload/manifest-layers.ts';
import type { LayerDescriptor } from '../payload/payload.ts';
import { ContentStoreFiles, commandLineOf, openContentBlobs, readFileStart, type BlobEntry, type OpenBlob } from '../platform/content-store-files.ts';
import { readSmallRegularFile } from '../platform/small-file.ts';
import { leaseSiblings } from './containerd-leases.ts';

/** The variable that names the content store in a stream processor's env, like --content-store. */
export const CONTENT_STORE_VARIABLE = 'CTD_DECODER_CONTENT_STORE';

/** How much of stdin identifies the blob: ciphertext, so a few bytes would do; a page costs nothing more to compare. */
export const STDIN_PREFIX_BYTES = 4096;

/** OCI's limit for manifests registries must accept; a larger blob is no manifest we need to read. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Enough to see whether a blob is JSON, and all of most manifests. */
const FIRST_READ_BYTES = 16 * 1024;

/** containerd's config is small; a larger file is not one we read. */
const MAX_CONFIG_BYTES = 1024 * 1024;

const DEFAULT_CONFIG = '/etc/containerd/config.toml';
const DEFAULT_ROOT = '/var/lib/containerd';

const USE_PAYLOAD_HINT = "or have containerd send the payload (containerd >= 2.1 CRI: [plugins.'io.containerd.cri.v1.images'] use_local_image_pull = true)";

export interface LookupInputs {
  /** --content-store, else $CTD_DECODER_CONTENT_STORE; with where it came from. */
  contentStore: { path: string; origin: string } | null;
  /** The process that started us: containerd, when it runs us as a stream processor. */
  parentPid: number;
  /** STREAM_PROCESSOR_MEDIATYPE: the media type of the layer on stdin, if containerd said. */
  mediaType: string | null;
  uid: number;
  env: NodeJS.ProcessEnv;
  /** The first bytes of stdin, and whether stdin ended within them. */
  stdinStart: Buffer;
  stdinEnded: boolean;
}

export interface FoundLayer {
  contentStore: string;
  /** The blob's sha256, hex. */
  hex: string;
  /** The descriptors manifests give the blob (those of the lease holding it first, then newest first); read lazily. */
  descriptors: Iterable<LayerDescriptor>;
  /** How many blobs the store holds (for messages). */
  blobCount(): number;
}

/**
 * Finds, without a payload, the layer on stdin and its descriptor in
 * containerd's content store: the store (option, the parent's open blobs, the
 * parent's config, the defaults), the blob (the parent's open blob whose
 * first bytes are stdin's, else an encrypted layer listed by a manifest,
 * by the same test), then the manifests that list it. Throws
 * ContentStoreNotFoundError or BlobNotFoundError naming what was looked at.
 */
export async function findLayer(inputs: LookupInputs): Promise<FoundLayer> {
  const openBlobs: OpenBlob[] = [];
  const isStdin = (store: ContentStoreFiles, hex: string): boolean => {
    const start = store.readStart(hex, inputs.stdinStart.length + (inputs.stdinEnded ? 1 : 0));
    return start !== null && start.equals(inputs.stdinStart);
  };
  const found = (store: ContentStoreFiles, scan: ManifestScan, hex: string, descriptors: Iterable<LayerDescriptor>): FoundLayer => ({
    contentStore: store.directory,
    hex,
    descriptors,
    blobCount: () => scan.blobCount,
  });

  // An open blob is looked for in the store it was opened from, unless the operator named the store.
  const named = inputs.contentStore === null ? null : await locateContentStore(inputs, []);
  const stores = new Map<string, ContentStoreFiles | null>();
  for (const blob of openContentBlobs(inputs.parentPid)) {
    openBlobs.push(blob);
    if (!stores.has(blob.contentStore)) stores.set(blob.contentStore, named ?? ContentStoreFiles.at(blob.contentStore));
    const store = stores.get(blob.contentStore);
    if (store != null && isStdin(store, blob.hex)) {
      const scan = new ManifestScan(store, inputs.mediaType);
      return found(store, scan, blob.hex, scan.descriptorsOf(blob.hex));
    }
  }

  const store = named ?? (await locateContentStore(inputs, [...stores.values()]));
  const scan = new ManifestScan(store, inputs.mediaType);
  const listed = scan.allEncryptedLayers();
  for (const [hex, descriptors] of listed) {
    if (isStdin(store, hex)) return found(store, scan, hex, descriptors);
  }
  const parent = openBlobs.length > 0 ? `${openBlobs.length} blob(s) containerd (pid ${inputs.parentPid}) has open` : `the blobs containerd (pid ${inputs.parentPid}) has open (none)`;
  throw new BlobNotFoundError(
    `the layer on stdin is none of ${parent} nor of the ${listed.size} encrypted layer(s)${inputs.mediaType === null ? '' : ` of type ${quoteUntrusted(inputs.mediaType, 100)}`} that ${scan.manifestsRead} manifest(s) list in content store ${quoteUntrusted(store.directory, 300)}`,
    `containerd streams layers from its own content store: name that store with --content-store (or ${CONTENT_STORE_VARIABLE} in the processor's env), ${USE_PAYLOAD_HINT}`,
  );
}

/** `openStores`: the stores of the blobs containerd has open, as findLayer found them (null: no store there any more). */
async function locateContentStore(inputs: LookupInputs, openStores: readonly (ContentStoreFiles | null)[]): Promise<ContentStoreFiles> {
  if (inputs.contentStore !== null) {
    const store = ContentStoreFiles.at(inputs.contentStore.path);
    if (store !== null) return store;
    throw new ContentStoreNotFoundError(
      `${inputs.contentStore.origin} names ${quoteUntrusted(inputs.contentStore.path, 300)}, which holds no content store (no blobs/sha256 in it or in its io.containerd.content.v1.content)`,
      "name containerd's root directory (its `root` setting) or the io.containerd.content.v1.content directory in it",
    );
  }
  const looked: string[] = [];
  const open = openStores.find((store) => store !== null);
  if (open != null) return open;
  looked.push(`the open files of containerd (pid ${inputs.parentPid}): ${openStores.length === 0 ? 'no content-store blob' : 'stores gone'}`);

  for (const { root, origin } of await rootsFromCommandLine(inputs.parentPid, looked)) {
    const store = ContentStoreFiles.at(root);
    if (store !== null) return store;
    looked.push(`${quoteUntrusted(root, 300)} (${origin}): no content store`);
  }
  for (const root of defaultRoots(inputs.uid, inputs.env)) {
    const store = ContentStoreFiles.at(root);
    if (store !== null) return store;
    looked.push(`${quoteUntrusted(root, 300)}: no content store`);
  }
  throw new ContentStoreNotFoundError(
    `no decryption payload and no containerd content store to find the layer's descriptor in (looked at ${looked.join('; ')})`,
    `pass --content-store DIR (or set ${CONTENT_STORE_VARIABLE}=DIR in the processor's env) naming containerd's root, ${USE_PAYLOAD_HINT}`,
  );
}

/** containerd's root as the parent's command line gives it: --root, else `root` in its --config file (default /etc/containerd/config.toml). */
async function rootsFromCommandLine(pid: number, looked: string[]): Promise<{ root: string; origin: string }[]> {
  const argv = commandLineOf(pid);
  if (argv === null || !basename(argv[0] ?? '').includes('containerd')) {
    looked.push(`the command line of pid ${pid}: not containerd`);
    return [];
  }
  const flag = (names: readonly string[]): string | null => {
    for (let i = 1; i < argv.length; i++) {
      const match = /^--?([a-z-]+)(?:=(.*))?$/s.exec(argv[i]!);
      if (match !== null && names.includes(match[1]!)) return match[2] ?? argv[i + 1] ?? null;
    }
    return null;
  };
  const root = flag(['root']);
  if (root !== null) return [{ root, origin: 'containerd --root' }];
  const config = flag(['config', 'c']) ?? DEFAULT_CONFIG;
  const read = readSmallRegularFile(config, MAX_CONFIG_BYTES);
  if (!read.ok) {
    looked.push(`${quoteUntrusted(config, 300)}: ${read.failure === 'missing' ? 'no such file' : 'unreadable'}`);
    return [];
  }
  // smol-toml is loaded only here: the common cases never read containerd's config.
  const { parse: parseToml } = await import('smol-toml');
  try {
    const value = (parseToml(read.bytes.toString('utf8')) as Record<string, unknown>)['root'];
    if (typeof value === 'string' && value !== '') return [{ root: value, origin: `root in ${config}` }];
    looked.push(`${quoteUntrusted(config, 300)}: no root setting`);
  } catch {
    looked.push(`${quoteUntrusted(config, 300)}: not valid TOML`);
  }
  return [];
}

/** containerd's default roots: the system one, and the rootless one for an ordinary user. */
function defaultRoots(uid: number, env: NodeJS.ProcessEnv): string[] {
  if (uid === 0) return [DEFAULT_ROOT];
  const dataHome = env['XDG_DATA_HOME'] || join(env['HOME'] || homedir(), '.local', 'share');
  return [join(dataHome, 'containerd'), DEFAULT_ROOT];
}

/**
 * Manifests in the content store, read lazily: blobs by time, newest first,
 * and only those of a manifest's size that start with "{" and contain the
 * text being looked for are parsed.
 */
class ManifestScan {
  manifestsRead = 0;
  readonly #store: ContentStoreFiles;
  readonly #mediaType: string | null;
  #entries: BlobEntry[] | null = null;
  readonly #firstRead = Buffer.allocUnsafe(FIRST_READ_BYTES);

  constructor(store: ContentStoreFiles, mediaType: string | null) {
    this.#store = store;
    this.#mediaType = mediaType;
  }

  get blobCount(): number {
    this.#entries ??= this.#store.blobsNewestFirst();
    return this.#entries.length;
  }

  /**
   * The descriptors manifests give blob `hex`, one manifest at a time: first
   * those among the blobs of the containerd leases that hold it (the pull
   * under way: a few page reads of containerd's metadata), then every other
   * manifest in the store.
   */
  *descriptorsOf(hex: string): Generator<LayerDescriptor> {
    const digest = `sha256:${hex}`;
    const hinted = new Set<string>();
    for (const sibling of this.#store.withMetadata((readAt) => leaseSiblings(readAt, digest)) ?? []) {
      const candidate = sibling.startsWith('sha256:') ? sibling.slice('sha256:'.length) : '';
      if (!/^[0-9a-f]{64}$/.test(candidate)) continue;
      hinted.add(candidate);
      const layers = this.#manifestAt({ hex: candidate, size: MAX_MANIFEST_BYTES, modifiedMs: 0 }, Buffer.from(hex));
      for (const layer of layers ?? []) if (layer.digest === digest) yield layer;
    }
    for (const layers of this.#manifests(hex, hinted)) {
      for (const layer of layers) if (layer.digest === digest) yield layer;
    }
  }

  /** Every encrypted layer (of the media type containerd named) any manifest lists: digest hex -> descriptors. */
  allEncryptedLayers(): Map<string, LayerDescriptor[]> {
    const layers = new Map<string, LayerDescriptor[]>();
    for (const listed of this.#manifests('+encrypted"')) {
      for (const layer of listed) {
        if (!layer.digest.startsWith('sha256:')) continue;
        const hex = layer.digest.slice('sha256:'.length);
        layers.set(hex, [...(layers.get(hex) ?? []), layer]);
      }
    }
    return layers;
  }

  /** The encrypted layers of each manifest whose text contains `needle`, of the right media type, skipping `done`. */
  *#manifests(needle: string, done: ReadonlySet<string> = new Set()): Generator<LayerDescriptor[]> {
    this.#entries ??= this.#store.blobsNewestFirst();
    const needleBytes = Buffer.from(needle);
    for (const entry of this.#entries) {
      if (entry.size > MAX_MANIFEST_BYTES || entry.size < 2 || entry.hex === needle || done.has(entry.hex)) continue;
      const layers = this.#manifestAt(entry, needleBytes);
      if (layers !== null) yield layers;
    }
  }

  /** The blob's encrypted layers of the right media type if it is JSON containing `needle` and lists some; else null. */
  #manifestAt(entry: BlobEntry, needle: Buffer): LayerDescriptor[] | null {
    const path = this.#store.blobPath(entry.hex);
    const start = readFileStart(path, Math.min(entry.size, FIRST_READ_BYTES), this.#firstRead);
    if (start === null || !startsLikeJsonObject(start)) return null;
    const whole = start.length < FIRST_READ_BYTES ? start : readWholeManifest(path);
    if (whole === null || !whole.includes(needle)) return null;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(whole);
    } catch {
      return null;
    }
    const layers = encryptedLayersOf(text).filter((layer) => this.#mediaType === null || layer.mediaType === this.#mediaType);
    if (layers.length === 0) return null;
    this.manifestsRead++;
    return layers;
  }
}

/** A blob the first read did not hold whole: all of it, sized by the file, or null past MAX_MANIFEST_BYTES. */
function readWholeManifest(path: string): Buffer | null {
  const read = readSmallRegularFile(path, MAX_MANIFEST_BYTES);
  return read.ok ? read.bytes : null;
}

function startsLikeJsonObject(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (byte === 0x7b) return true; // {
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return false;
  }
  return false;
}
