/** The layer annotations ocicrypt writes: one per key-wrap scheme, and the public options. */

export const WRAPPED_KEYS_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.';
export const PUBLIC_OPTIONS_ANNOTATION = 'org.opencontainers.image.enc.pubopts';

/** `org.opencontainers.image.enc.keys.provider.<name>`: the suffix names the key provider. */
const KEY_PROVIDER_PREFIX = 'provider.';

/** The provider's name of a "provider.<name>" scheme, or null for any other scheme. */
export function keyProviderNameOf(scheme: string): string | null {
  return scheme.startsWith(KEY_PROVIDER_PREFIX) ? scheme.slice(KEY_PROVIDER_PREFIX.length) : null;
}

/** "provider.<name>": unwrapped by an external key provider, never by local keys. */
export function isKeyProviderScheme(scheme: string): boolean {
  return scheme.startsWith(KEY_PROVIDER_PREFIX);
}
