import { unwrapLayerKey } from './unwrap-layer-key.ts';
import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import { DecoderError, ManifestNotFoundError } from '../errors.ts';
import type { DecryptionKeys } from '../keys/decryption-keys.ts';
import type { DecryptParameters } from '../payload/payload.ts';
import { decryptStandardStreams, readStandardInputPrefix } from '../platform/layer-decrypt-stdio.ts';
import { keysForCall } from './call-keys.ts';
import { CONTENT_STORE_VARIABLE, STDIN_PREFIX_BYTES, findLayer } from './content-store-lookup.ts';

export interface CallWithoutPayload {
  keysDirectory: string | null;
  /** --content-store, if given. */
  contentStore: string | null;
  /** Keys a descriptor-less payload may still carry. */
  parameters: DecryptParameters;
  env: NodeJS.ProcessEnv;
  /** Told the layer's digest as soon as it is known, for the failure line. */
  reportLayer(digest: string): void;
}

/**
 * Decrypts stdin to stdout when containerd sent no payload: the layer's
 * descriptor comes from the manifests in containerd's content store (see
 * findLayer), and the stream must then turn out to be exactly that blob:
 * its sha256 is checked with the HMAC before the withheld tail is released.
 * Several manifests may describe the blob differently; each is tried in turn
 * and the first that unwraps is used. Keys come from the keys directory (and
 * the payload's parameters, if containerd sent any), never from the store.
 */
export async function decryptWithoutPayload(call: CallWithoutPayload): Promise<void> {
  const stdinStart = readStandardInputPrefix(STDIN_PREFIX_BYTES);
  const optionPath = call.contentStore ?? (call.env[CONTENT_STORE_VARIABLE] || null);
  const mediaType = call.env['STREAM_PROCESSOR_MEDIATYPE'] || null;
  const layer = await findLayer({
    contentStore:
      optionPath === null ? null : { path: optionPath, origin: call.contentStore !== null ? '--content-store' : CONTENT_STORE_VARIABLE },
    parentPid: process.ppid,
    mediaType,
    uid: process.getuid?.() ?? 0,
    env: call.env,
    stdinStart,
    stdinEnded: stdinStart.length < STDIN_PREFIX_BYTES,
  });
  call.reportLayer(`sha256:${layer.hex}`);
  // Read once, on the first descriptor found: the keys serve every manifest tried.
  let keys: DecryptionKeys | undefined;
  let firstFailure: DecoderError | null = null;
  for (const descriptor of layer.descriptors) {
    let options;
    try {
      keys ??= keysForCall(call.keysDirectory, call.parameters);
      options = await unwrapLayerKey(descriptor, keys);
    } catch (error) {
      if (!(error instanceof DecoderError)) throw error;
      firstFailure ??= error;
      continue;
    }
    decryptStandardStreams(options, { start: stdinStart, sha256Hex: layer.hex });
    return;
  }
  if (firstFailure !== null) throw firstFailure;
  throw new ManifestNotFoundError(
    `no manifest among the ${layer.blobCount()} blobs of content store ${quoteUntrusted(layer.contentStore, 300)} lists this layer as an encrypted layer${
      mediaType === null ? '' : ` of type ${quoteUntrusted(mediaType, 100)}`
    }`,
    "the image's manifest must be in the content store the layer comes from: pull the image again, or have containerd send the payload",
  );
}
