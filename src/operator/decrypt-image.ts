import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LayerDecryptor } from './oci/layer-decrypt-transform.ts';
import { unwrapLayerKey } from '../decode/unwrap-layer-key.ts';
import { DecoderError, DestinationError, ImageError, errorCode } from '../errors.ts';
import type { DecryptionKeys } from '../keys/decryption-keys.ts';
import { DigestCounter } from './oci/digest-counter.ts';
import { FIX_IMAGE, digestAlgorithm, parseRootIndex, verifyBlob, walkImage, type Descriptor } from './oci/image.ts';
import type { ImageDestination, ImageSource } from './oci/image-io.ts';
import { decryptedMediaType, isEncryptedMediaType, isEncryptionAnnotation } from './oci/media-types.ts';

export type DecryptEvent =
  | { type: 'layer-start'; digest: string; mediaType: string; size: number }
  | { type: 'layer-progress'; digest: string; bytes: number; size: number }
  | { type: 'layer-done'; digest: string; decryptedDigest: string; mediaType: string; size: number }
  | { type: 'warning'; message: string };

export interface DecryptSummary {
  manifests: number;
  decryptedLayers: number;
  copiedBlobs: number;
}

/**
 * Decrypts every encrypted layer of an image into a new OCI layout, as
 * skopeo's decryption does: each layer becomes its media type without
 * "+encrypted", the ocicrypt annotations go, digests and sizes are the
 * decrypted blob's; manifests and indexes above are rewritten to match,
 * every other blob is copied. Every blob read is checked against its digest,
 * and every layer against its HMAC, before the layout is committed.
 */
export async function decryptImage(
  source: ImageSource,
  destination: ImageDestination,
  keys: DecryptionKeys,
  onEvent: (event: DecryptEvent) => void,
): Promise<DecryptSummary> {
  const root = parseRootIndex(await source.readIndex(), source.location);
  const summary: DecryptSummary = { manifests: 0, decryptedLayers: 0, copiedBlobs: 0 };
  const done = new Map<string, Descriptor['json']>();

  const copyBlob = async (descriptor: Descriptor): Promise<void> => {
    if (done.has(descriptor.digest)) return;
    const counter = new DigestCounter(digestAlgorithm(descriptor.digest));
    const writer = destination.openBlobWriter();
    await streamBlob(descriptor, [source.openBlob(descriptor), counter], writer.stream);
    verifyBlob(descriptor, counter.bytes, counter.digest());
    await writer.finish(descriptor.digest);
    done.set(descriptor.digest, descriptor.json);
    summary.copiedBlobs++;
  };

  const decryptLayerBlob = async (layer: Descriptor): Promise<Descriptor['json']> => {
    const known = done.get(layer.digest);
    if (known !== undefined) return known;
    const mediaType = decryptedMediaType(layer.mediaType);
    onEvent({ type: 'layer-start', digest: layer.digest, mediaType, size: layer.size });
    const options = await unwrapLayerKey(layer, keys);
    const ciphertext = new DigestCounter(digestAlgorithm(layer.digest), (bytes) =>
      onEvent({ type: 'layer-progress', digest: layer.digest, bytes, size: layer.size }),
    );
    const plaintext = new DigestCounter('sha256');
    const writer = destination.openBlobWriter();
    await streamBlob(layer, [source.openBlob(layer), ciphertext, new LayerDecryptor(options), plaintext], writer.stream);
    verifyBlob(layer, ciphertext.bytes, ciphertext.digest());
    const digest = plaintext.digest();
    // The digest in the private options is advisory (the Go decoder never checks it): a mismatch is worth a word, not a failure.
    if (options.digest !== '' && options.digest !== digest) {
      onEvent({ type: 'warning', message: `layer ${layer.digest}: decrypts to ${digest}, the encryptor recorded ${options.digest}` });
    }
    await writer.finish(digest);
    const annotations = Object.fromEntries([...layer.annotations].filter(([name]) => !isEncryptionAnnotation(name)));
    const otherFields = Object.fromEntries(Object.entries(layer.json).filter(([field]) => field !== 'annotations'));
    const decrypted = { ...otherFields, mediaType, digest, size: plaintext.bytes, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) };
    done.set(layer.digest, decrypted);
    summary.decryptedLayers++;
    onEvent({ type: 'layer-done', digest: layer.digest, decryptedDigest: digest, mediaType, size: plaintext.bytes });
    return decrypted;
  };

  const index = await walkImage(root, {
    readBlob: (descriptor) => source.readBlob(descriptor),
    writeBlob: (bytes) => destination.writeBlob(bytes),
    visitManifest: async ({ manifest }) => {
      summary.manifests++;
      if (manifest.config !== null) await copyBlob(manifest.config);
      const layers: unknown[] = [];
      let changed = false;
      for (const layer of manifest.layers) {
        if (isEncryptedMediaType(layer.mediaType)) {
          layers.push(await decryptLayerBlob(layer));
          changed = true;
        } else {
          await copyBlob(layer);
          layers.push(layer.json);
        }
      }
      return changed ? Buffer.from(JSON.stringify({ ...manifest.json, layers })) : null;
    },
  });
  await destination.commit(index ?? (await source.readIndex()));
  return summary;
}

/** Runs one blob through its streams, telling a failed destination from a failed source. */
async function streamBlob(descriptor: Descriptor, streams: [Readable, ...Duplex[]], output: Writable): Promise<void> {
  try {
    await pipeline([...streams, output]);
  } catch (error) {
    if (error instanceof DecoderError) throw error;
    const code = errorCode(error);
    if (output.errored) throw new DestinationError(`cannot write the decrypted layout (${code})`, 'check free space and permissions');
    throw new ImageError(`cannot read blob ${descriptor.digest} (${code})`, FIX_IMAGE);
  }
}
