import { PUBLIC_OPTIONS_ANNOTATION, WRAPPED_KEYS_ANNOTATION_PREFIX } from '../../keywrap/annotations.ts';

const ENCRYPTED_SUFFIX = '+encrypted';

/** The encrypted layer media types ocicrypt writes; each decrypts to the same type without "+encrypted". */
export const ENCRYPTED_LAYER_MEDIA_TYPES = [
  'application/vnd.oci.image.layer.v1.tar+encrypted',
  'application/vnd.oci.image.layer.v1.tar+gzip+encrypted',
  'application/vnd.oci.image.layer.v1.tar+zstd+encrypted',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+encrypted',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip+encrypted',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd+encrypted',
] as const;

export const INDEX_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

export const MANIFEST_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);

export function isEncryptedMediaType(mediaType: string): boolean {
  return mediaType.endsWith(ENCRYPTED_SUFFIX);
}

/** "…tar+gzip+encrypted" -> "…tar+gzip"; anything else unchanged. */
export function decryptedMediaType(mediaType: string): string {
  return isEncryptedMediaType(mediaType) ? mediaType.slice(0, -ENCRYPTED_SUFFIX.length) : mediaType;
}

/** The annotations ocicrypt adds to an encrypted layer: wrapped keys and public options. */
export function isEncryptionAnnotation(name: string): boolean {
  return name.startsWith(WRAPPED_KEYS_ANNOTATION_PREFIX) || name === PUBLIC_OPTIONS_ANNOTATION;
}
