import { GoJsonError, field, isJsonObject, parseJson } from '../encoding/go-json.ts';
import { descriptorFromJson, type LayerDescriptor } from './payload.ts';

const ENCRYPTED_SUFFIX = '+encrypted';

/**
 * The encrypted layers an image manifest lists (OCI or Docker schema 2: a
 * `layers` array of descriptors whose media type ends in +encrypted), with
 * their annotations: what the decryption payload's descriptor would have
 * been. Anything else (an index, a config, a layer, JSON that does not parse
 * or has fields of the wrong type) lists none: never an error, since a
 * content store holds all kinds of blobs.
 */
export function encryptedLayersOf(manifestText: string): LayerDescriptor[] {
  let root: unknown;
  try {
    root = parseJson(manifestText, 'manifest');
  } catch {
    return [];
  }
  if (!isJsonObject(root)) return [];
  const layers = field(root, 'layers');
  if (!Array.isArray(layers)) return [];
  const encrypted: LayerDescriptor[] = [];
  for (const [index, layer] of layers.entries()) {
    if (!isJsonObject(layer)) continue;
    try {
      const descriptor = descriptorFromJson(layer, `manifest.layers[${index}]`);
      if (descriptor.mediaType.endsWith(ENCRYPTED_SUFFIX)) encrypted.push(descriptor);
    } catch (error) {
      if (!(error instanceof GoJsonError)) throw error;
    }
  }
  return encrypted;
}
