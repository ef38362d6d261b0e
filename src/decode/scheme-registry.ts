import type { KeyWrapScheme } from '../keywrap/scheme.ts';

export const WRAPPED_KEYS_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.';

/** `org.opencontainers.image.enc.keys.provider.<name>`: the suffix names the key provider. */
const KEY_PROVIDER_PREFIX = 'provider.';

/**
 * Schemes in the order they are tried. Each is loaded only when a layer
 * carries its annotation, so a JWE layer never pays for OpenPGP.
 */
const SCHEMES: ReadonlyArray<readonly [name: string, load: () => Promise<KeyWrapScheme>]> = [
  ['jwe', async () => (await import('../keywrap/jwe.ts')).jweScheme],
  ['pkcs7', async () => (await import('../keywrap/pkcs7.ts')).pkcs7Scheme],
  ['pgp', async () => (await import('../keywrap/pgp.ts')).pgpScheme],
  ['pkcs11', async () => (await import('../keywrap/pkcs11.ts')).pkcs11Scheme],
];

export interface WrappedKeys {
  /** The annotation suffix, e.g. "jwe" or "provider.attestation-agent". */
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

/** The layer's wrapped keys, in the order schemes are tried; key providers last, by name. */
export function wrappedKeysOf(annotations: ReadonlyMap<string, string>): LayerWrapping {
  const wrapped: WrappedKeys[] = [];
  for (const [scheme, load] of SCHEMES) {
    const value = annotations.get(WRAPPED_KEYS_ANNOTATION_PREFIX + scheme);
    if (value !== undefined) wrapped.push({ scheme, value, load });
  }
  const unknownSchemes: string[] = [];
  for (const [key, value] of [...annotations].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!key.startsWith(WRAPPED_KEYS_ANNOTATION_PREFIX)) continue;
    const scheme = key.slice(WRAPPED_KEYS_ANNOTATION_PREFIX.length);
    const providerName = scheme.startsWith(KEY_PROVIDER_PREFIX) ? scheme.slice(KEY_PROVIDER_PREFIX.length) : null;
    if (providerName) {
      wrapped.push({ scheme, value, load: async () => (await import('../keywrap/key-provider.ts')).keyProviderScheme(providerName) });
    } else if (!wrapped.some((entry) => entry.scheme === scheme)) {
      unknownSchemes.push(scheme);
    }
  }
  return { wrapped, unknownSchemes };
}

export interface RegisteredScheme {
  name: string;
  load: () => Promise<KeyWrapScheme>;
}

/** Every scheme of the table above, in trial order (key providers are per image, so not listed): for the operator commands. */
export function registeredSchemes(): RegisteredScheme[] {
  return SCHEMES.map(([name, load]) => ({ name, load }));
}

/** "provider.<name>": unwrapped by an external key provider, never by local keys. */
export function isKeyProviderScheme(scheme: string): boolean {
  return scheme.startsWith(KEY_PROVIDER_PREFIX);
}
