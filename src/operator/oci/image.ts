import { createHash } from 'node:crypto';
import { isJsonObject, type JsonObject } from '../../encoding/go-json.ts';
import { quoteUntrusted } from '../../encoding/untrusted-text.ts';
import { ImageError } from '../../errors.ts';
import type { LayerDescriptor } from '../../payload/payload.ts';
import { MAX_DOCUMENT_BYTES } from '../../limits.ts';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from './media-types.ts';

/**
 * OCI image structure, read from JSON the operator hands us: an image
 * layout's index.json, manifests, or a single descriptor. Everything is
 * validated before use, digests above all, since they become file names.
 */
export interface Descriptor extends LayerDescriptor {
  /** "linux/amd64" when the descriptor names a platform. */
  platform: string | null;
  /** The JSON object as found, so that a rewrite keeps every field it does not change. */
  json: JsonObject;
}

export interface ImageIndex {
  kind: 'index';
  json: JsonObject;
  manifests: Descriptor[];
}

export interface ImageManifest {
  kind: 'manifest';
  json: JsonObject;
  config: Descriptor | null;
  layers: Descriptor[];
}

/** A lone descriptor: what `inspect` accepts for one layer (e.g. from `skopeo inspect --raw` plus jq). */
export interface LoneDescriptor {
  kind: 'descriptor';
  descriptor: Descriptor;
}

export type ImageDocument = ImageIndex | ImageManifest | LoneDescriptor;

/** The digests we can verify; the spec's grammar allows more, but nothing writes them. */
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Deeper than any real image: nested indexes beyond this are a loop or an attack. */
const MAX_INDEX_DEPTH = 8;

/** The one hint for an image the operator commands find broken (malformed, incomplete, failing its digests): a fresh copy fixes it. */
export const FIX_IMAGE = 'the image is corrupt or not an OCI image; copy it again (e.g. skopeo copy)';

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** "sha256" for a digest this module accepted. */
export function digestAlgorithm(digest: string): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isJsonObject(value)) throw new ImageError(`${where} is not a descriptor object`, FIX_IMAGE);
  const { mediaType, digest, size, annotations, platform } = value;
  if (typeof mediaType !== 'string') throw new ImageError(`${where} has no mediaType`, FIX_IMAGE);
  if (typeof digest !== 'string' || !DIGEST.test(digest)) {
    throw new ImageError(`${where} has no valid digest (sha256 or sha512)`, FIX_IMAGE);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new ImageError(`${where} has no valid size`, FIX_IMAGE);
  const annotationMap = new Map<string, string>();
  if (annotations !== undefined && annotations !== null) {
    if (!isJsonObject(annotations)) throw new ImageError(`${where} annotations are not an object`, FIX_IMAGE);
    for (const [key, annotation] of Object.entries(annotations)) {
      if (typeof annotation !== 'string') throw new ImageError(`${where} annotation ${quoteUntrusted(key, 100)} is not a string`, FIX_IMAGE);
      annotationMap.set(key, annotation);
    }
  }
  return { mediaType, digest, size, annotations: annotationMap, platform: platformOf(platform), json: value };
}

function platformOf(platform: unknown): string | null {
  if (!isJsonObject(platform) || typeof platform['os'] !== 'string' || typeof platform['architecture'] !== 'string') return null;
  const variant = typeof platform['variant'] === 'string' ? `/${platform['variant']}` : '';
  return `${platform['os']}/${platform['architecture']}${variant}`;
}

/** Tells an index, a manifest and a lone descriptor apart, by media type or else by shape. */
export function parseImageDocument(bytes: Uint8Array, where: string): ImageDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ImageError(`${where} is not JSON`, FIX_IMAGE);
  }
  if (!isJsonObject(json)) throw new ImageError(`${where} is not a JSON object`, FIX_IMAGE);
  const mediaType = typeof json['mediaType'] === 'string' ? json['mediaType'] : null;
  if ((mediaType !== null && INDEX_MEDIA_TYPES.has(mediaType)) || Array.isArray(json['manifests'])) {
    if (!Array.isArray(json['manifests'])) throw new ImageError(`${where} is an index without manifests`, FIX_IMAGE);
    return { kind: 'index', json, manifests: json['manifests'].map((entry, i) => parseDescriptor(entry, `${where} manifests[${i}]`)) };
  }
  if ((mediaType !== null && MANIFEST_MEDIA_TYPES.has(mediaType)) || Array.isArray(json['layers'])) {
    if (!Array.isArray(json['layers'])) throw new ImageError(`${where} is a manifest without layers`, FIX_IMAGE);
    return {
      kind: 'manifest',
      json,
      config: json['config'] === undefined ? null : parseDescriptor(json['config'], `${where} config`),
      layers: json['layers'].map((entry, i) => parseDescriptor(entry, `${where} layers[${i}]`)),
    };
  }
  if (typeof json['digest'] === 'string') return { kind: 'descriptor', descriptor: parseDescriptor(json, where) };
  throw new ImageError(`${where} is neither an image index, a manifest nor a descriptor`, FIX_IMAGE);
}

/** An image layout's index.json, which must be an index. */
export function parseRootIndex(bytes: Uint8Array, location: string): ImageIndex {
  const root = parseImageDocument(bytes, `${location} index.json`);
  if (root.kind !== 'index') throw new ImageError(`${location} index.json is not an image index`, FIX_IMAGE);
  return root;
}

/** Checks a blob as read, its length and its digest (in the descriptor's algorithm), against its descriptor. */
export function verifyBlob(descriptor: Descriptor, length: number, digest: string): void {
  if (length !== descriptor.size || digest !== descriptor.digest) {
    throw new ImageError(`blob ${descriptor.digest} does not match its descriptor (size or digest)`, FIX_IMAGE);
  }
}

/** A manifest reached from the image's root index, with the index descriptors on the way. */
export interface ManifestVisit {
  descriptor: Descriptor;
  manifest: ImageManifest;
  /** Index descriptors from the root down to this manifest's parent (empty for a manifest listed in index.json). */
  parents: Descriptor[];
}

export interface ImageWalk {
  /** The whole blob (the walk checks it against the descriptor). */
  readBlob(descriptor: Descriptor): Promise<Buffer>;
  /** Called once per manifest; returns the bytes of a replacement manifest, or null to keep it. */
  visitManifest(visit: ManifestVisit): Promise<Buffer | null>;
  /** Receives every index and manifest blob of the resulting image, rewritten or not. */
  writeBlob(bytes: Buffer): Promise<void>;
}

/**
 * Walks an image from its root index through nested indexes to every
 * manifest, depth first, in order. When `visitManifest` replaces manifests,
 * the indexes above them are rewritten to point at the new blobs; the return
 * value is the new root index JSON, or null when nothing changed.
 */
export async function walkImage(root: ImageIndex, walk: ImageWalk): Promise<Buffer | null> {
  const rewriteIndex = async (index: ImageIndex, parents: Descriptor[]): Promise<JsonObject | null> => {
    if (parents.length > MAX_INDEX_DEPTH) throw new ImageError(`image indexes nest deeper than ${MAX_INDEX_DEPTH}`, FIX_IMAGE);
    let changed = false;
    const manifests: unknown[] = [];
    for (const descriptor of index.manifests) {
      const where = `blob ${descriptor.digest}`;
      if (descriptor.size > MAX_DOCUMENT_BYTES) throw new ImageError(`${where} is too large for a manifest (${descriptor.size} bytes)`, FIX_IMAGE);
      const bytes = await walk.readBlob(descriptor);
      const algorithm = digestAlgorithm(descriptor.digest);
      verifyBlob(descriptor, bytes.length, `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`);
      const document = parseImageDocument(bytes, where);
      let replacement: Buffer | null = null;
      if (document.kind === 'index') {
        const json = await rewriteIndex(document, [...parents, descriptor]);
        if (json !== null) replacement = Buffer.from(JSON.stringify(json));
      } else if (document.kind === 'manifest') {
        replacement = await walk.visitManifest({ descriptor, manifest: document, parents });
      } else {
        throw new ImageError(`${where} is listed as a manifest but is a lone descriptor`, FIX_IMAGE);
      }
      await walk.writeBlob(replacement ?? bytes);
      if (replacement === null) {
        manifests.push(descriptor.json);
      } else {
        manifests.push(withContent(descriptor.json, replacement));
        changed = true;
      }
    }
    return changed ? { ...index.json, manifests } : null;
  };
  const json = await rewriteIndex(root, []);
  return json === null ? null : Buffer.from(JSON.stringify(json));
}

/** A copy of a descriptor pointing at other content: new digest and size, every other field kept. */
export function withContent(descriptor: JsonObject, content: Buffer): JsonObject {
  return { ...descriptor, digest: sha256Digest(content), size: content.length };
}
