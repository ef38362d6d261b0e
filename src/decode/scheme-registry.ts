import { WRAPPED_KEYS_ANNOTATION_PREFIX, keyProviderNameOf } from '../keywrap/annotations.ts';
import type { KeyProviderHost } from '../keywrap/key-provider.ts';
import type { KeyWrapScheme } from '../keywrap/scheme.ts';

/**
 * Schemes in the order they are tried. Each is loaded only when a layer
 * carries its annotation, so a JWE layer never pays for OpenPGP. This is the
 * one place where schemes meet the system: a scheme that needs it gets its
 * host from platform/ here, and never imports platform/ itself.
 */
const SCHEMES: ReadonlyArray<readonly [name: string, load: () => Promise<KeyWrapScheme>]> = [
  ['jwe', async () => (await import('../keywrap/jwe.ts')).jweScheme],
  ['pkcs7', async () => (await import('../keywrap/pkcs7.ts')).pkcs7Scheme],
  ['pgp', async () => (await import('../keywrap/pgp.ts')).pgpScheme],
  ['pkcs11', loadPkcs11Scheme],
];

async function loadPkcs11Scheme(): Promise<KeyWrapScheme> {
  const [{ pkcs11SchemeWith }, { systemPkcs11Host }] = await Promise.all([import('../keywrap/pkcs11.ts'), import('../platform/pkcs11-host.ts')]);
  return pkcs11SchemeWith(systemPkcs11Host);
}

/** One per run, made when a layer first needs a key provider: it reads the provider config once. */
let keyProviderHost: KeyProviderHost | undefined;

async function loadKeyProviderScheme(providerName: string): Promise<KeyWrapScheme> {
  const [{ keyProviderScheme }, { systemKeyProviderHost }] = await Promise.all([
    import('../keywrap/key-provider.ts'),
    import('../platform/key-provider-host.ts'),
  ]);
  return keyProviderScheme(providerName, (keyProviderHost ??= systemKeyProviderHost()));
}

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
    const providerName = keyProviderNameOf(scheme);
    if (providerName) {
      wrapped.push({ scheme, value, load: () => loadKeyProviderScheme(providerName) });
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
