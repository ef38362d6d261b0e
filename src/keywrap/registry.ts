import type { KeyWrapScheme } from './scheme.ts';

export const WRAPPED_KEYS_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.';

/**
 * Schemes in the order they are tried. Each is loaded only when a layer
 * carries its annotation, so a JWE layer never pays for OpenPGP or forge.
 */
const SCHEMES: ReadonlyArray<readonly [name: string, load: () => Promise<KeyWrapScheme>]> = [
  ['jwe', async () => (await import('./jwe.ts')).jweScheme],
  ['pkcs7', async () => (await import('./pkcs7.ts')).pkcs7Scheme],
  ['pgp', async () => (await import('./pgp.ts')).pgpScheme],
];

export interface WrappedKeys {
  /** The annotation suffix, e.g. "jwe". */
  scheme: string;
  /** The annotation value: comma-separated base64 items. */
  value: string;
  load: () => Promise<KeyWrapScheme>;
}

export interface LayerWrapping {
  wrapped: WrappedKeys[];
  /** Suffixes of wrapped-key annotations no scheme here understands. */
  unknownSchemes: string[];
}

/** The layer's wrapped keys, in the order schemes are tried. */
export function wrappedKeysOf(annotations: ReadonlyMap<string, string>): LayerWrapping {
  const wrapped: WrappedKeys[] = [];
  for (const [scheme, load] of SCHEMES) {
    const value = annotations.get(WRAPPED_KEYS_ANNOTATION_PREFIX + scheme);
    if (value !== undefined) wrapped.push({ scheme, value, load });
  }
  const known = new Set(wrapped.map((entry) => WRAPPED_KEYS_ANNOTATION_PREFIX + entry.scheme));
  const unknownSchemes = [...annotations.keys()]
    .filter((key) => key.startsWith(WRAPPED_KEYS_ANNOTATION_PREFIX) && !known.has(key))
    .map((key) => key.slice(WRAPPED_KEYS_ANNOTATION_PREFIX.length));
  return { wrapped, unknownSchemes };
}
