import { decodeStdBase64 } from './encoding/base64.ts';
import { quoteUntrusted } from './encoding/untrusted-text.ts';
import { AnnotationError, CipherOptionsError, NoKeySuppliedError, NoMatchingKeyError, NotEncryptedError } from './errors.ts';
import type { DecryptionKeys } from './keys/decryption-keys.ts';
import { layerCipherOptions, parsePublicOptions, type LayerCipherOptions } from './blockcipher/options.ts';
import { WRAPPED_KEYS_ANNOTATION_PREFIX, wrappedKeysOf } from './keywrap/registry.ts';
import { UnwrapFailure } from './keywrap/scheme.ts';
import type { LayerDescriptor } from './payload/payload.ts';

export const PUBLIC_OPTIONS_ANNOTATION = 'org.opencontainers.image.enc.pubopts';

/** More wrapped-key items than any encryptor writes: a hostile image trying to make us work. */
export const MAX_WRAPPED_ITEMS = 64;

const CONFIGURE_PROVIDER_HINT =
  'configure the key provider named above in the file OCICRYPT_KEYPROVIDER_CONFIG names (set in the stream processor\'s env in containerd\'s config)';
const CHECK_PROVIDER_HINT = 'the key provider named above failed or refused this layer: check it and its logs';
const PUT_KEY_HINT = 'put the private key matching the image\'s encryption recipient in the --decryption-keys-path directory, or pass it in the decryption payload';

/**
 * Finds the layer key: tries each scheme the layer is wrapped with, in
 * registry order, and returns the cipher options for the stream. Throws
 * NoKeySuppliedError when no scheme had anything to try, NoMatchingKeyError
 * with every scheme's reason when keys were there but none fitted.
 */
export async function unwrapLayer(descriptor: LayerDescriptor, keys: DecryptionKeys): Promise<LayerCipherOptions> {
  const { wrapped, unknownSchemes } = wrappedKeysOf(descriptor.annotations);
  if (wrapped.length === 0) {
    throw new NotEncryptedError(
      unknownSchemes.length > 0
        ? `layer is wrapped only for schemes this decoder does not know: ${unknownSchemes.map((name) => quoteUntrusted(name)).join(', ')}`
        : `layer (${quoteUntrusted(descriptor.mediaType || 'no media type', 100)}) carries no wrapped keys`,
      'check that [stream_processors] "accepts" lists only +encrypted media types',
    );
  }
  const publicOptions = parsePublicOptions(decodeAnnotation(descriptor, PUBLIC_OPTIONS_ANNOTATION));

  const itemsByScheme = wrapped.map((entry) => decodeItems(entry.value, `${WRAPPED_KEYS_ANNOTATION_PREFIX}${entry.scheme}`));

  const missing: string[] = [];
  const failed: string[] = [];
  for (const [index, entry] of wrapped.entries()) {
    const scheme = await entry.load();
    const missingKeys = scheme.missingKeys(keys);
    if (missingKeys !== null) {
      missing.push(`${entry.scheme}: ${missingKeys}`);
      continue;
    }
    let privateOptions: Buffer;
    try {
      privateOptions = await scheme.unwrap(itemsByScheme[index]!, keys);
    } catch (error) {
      if (!(error instanceof UnwrapFailure)) throw error;
      (error.noUsableKey ? missing : failed).push(`${entry.scheme}: ${error.message}`);
      continue;
    }
    try {
      return layerCipherOptions(publicOptions, privateOptions);
    } finally {
      // The layer key's text form; the cipher options keep their own binary copy.
      privateOptions.fill(0);
    }
  }
  const skipped = keys.unusable.length > 0 ? `; skipped ${keys.unusable.length}: ${summariseUnusable(keys)}` : '';
  const onlyKeyProviders = wrapped.every((entry) => entry.keyProvider);
  if (failed.length === 0) {
    throw new NoKeySuppliedError(
      `no key supplied for this layer's schemes (${missing.join('; ')}${skipped})`,
      onlyKeyProviders ? CONFIGURE_PROVIDER_HINT : PUT_KEY_HINT,
    );
  }
  throw new NoMatchingKeyError(
    `keys were supplied but none unwraps this layer (${[...failed, ...missing].join('; ')}${skipped})`,
    onlyKeyProviders ? CHECK_PROVIDER_HINT : 'add the private key the image was encrypted for, or fix the password, PIN or module named above',
  );
}

/** Skipped keys grouped by reason, with one example each: "public key, not a private key: a.pem (+2 more)". */
function summariseUnusable(keys: DecryptionKeys): string {
  const byReason = new Map<string, string[]>();
  for (const entry of keys.unusable) byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry.origin]);
  return [...byReason]
    .map(([reason, origins]) => `${reason}: ${origins[0]}${origins.length > 1 ? ` (+${origins.length - 1} more)` : ''}`)
    .join(', ');
}

export function decodeAnnotation(descriptor: LayerDescriptor, name: string): Buffer {
  const value = descriptor.annotations.get(name);
  if (value === undefined) {
    throw new CipherOptionsError(`layer has no ${name} annotation, so its cipher is unknown`, 'the image was encrypted by an incompatible tool; re-encrypt it');
  }
  const bytes = decodeStdBase64(value);
  if (bytes === null) throw new AnnotationError(`layer annotation ${name} is not valid base64`, 'the image manifest is corrupt; re-encrypt or re-push it');
  return bytes;
}

export function decodeItems(value: string, annotation: string): Buffer[] {
  const items = value.split(',');
  if (items.length > MAX_WRAPPED_ITEMS) {
    throw new AnnotationError(`layer annotation ${annotation} has ${items.length} items (limit ${MAX_WRAPPED_ITEMS})`, 'the image manifest is corrupt or hostile; do not run it');
  }
  return items.map((item, index) => {
    const bytes = decodeStdBase64(item);
    if (bytes === null) {
      throw new AnnotationError(`item ${index} of layer annotation ${annotation} is not valid base64`, 'the image manifest is corrupt; re-encrypt or re-push it');
    }
    return bytes;
  });
}
