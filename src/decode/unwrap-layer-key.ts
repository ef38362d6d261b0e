import { decodeStdBase64 } from '../encoding/base64.ts';
import { printable, quoteUntrusted } from '../encoding/untrusted-text.ts';
import { AnnotationError, CipherOptionsError, DecoderError, NoKeySuppliedError, NoMatchingKeyError, NotEncryptedError, WorkLimitError } from '../errors.ts';
import { PASSWORD_FILE_SUFFIX, type DecryptionKeys, type UnusableKey } from '../keys/decryption-keys.ts';
import { layerCipherOptions, parsePublicOptions, type LayerCipherOptions, type PublicOptions } from '../blockcipher/options.ts';
import { MAX_WRAPPED_ITEM_BYTES, MAX_WRAPPED_ITEMS } from '../limits.ts';
import { PUBLIC_OPTIONS_ANNOTATION, isKeyProviderScheme } from '../keywrap/annotations.ts';
import { OperationBudget, OperationLimitReached } from '../keywrap/operation-budget.ts';
import { wrappedKeysOf, type WrappedKeys } from './scheme-registry.ts';
import { UnwrapFailure } from '../keywrap/scheme.ts';
import type { LayerDescriptor } from '../payload/payload.ts';

const CONFIGURE_PROVIDER_HINT =
  'configure the key provider named above in the file OCICRYPT_KEYPROVIDER_CONFIG names (set in the stream processor\'s env in containerd\'s config)';
const CHECK_PROVIDER_HINT = 'the key provider named above failed or refused this layer: check it and its logs';
const PUT_KEY_HINT = 'put the private key matching the image\'s encryption recipient in the --decryption-keys-path directory, or pass it in the decryption payload';
const GIVE_PASSWORD_HINT =
  `a key above is locked: give its password in NAME${PASSWORD_FILE_SUFFIX} beside the key file NAME in the keys directory, ` +
  'or in the payload\'s privkeys-passwords / gpg-privatekeys-passwords';
const CORRUPT_HINT = 'the image\'s wrapped keys are corrupt; re-encrypt or re-push it';
const WORK_LIMIT_HINT =
  'no real image needs this much: the image is malformed or hostile; re-encrypt it for fewer recipients, or remove keys that cannot open it from the keys directory';

/**
 * Finds the layer key: tries each scheme the layer is wrapped with, in
 * registry order, and returns the cipher options for the stream. A scheme's
 * bad annotation is only that scheme's failure, as in ocicrypt. When none
 * unwraps, throws NoMatchingKeyError if some scheme tried keys that did not
 * fit, AnnotationError if every scheme that had keys found only malformed
 * items, and NoKeySuppliedError otherwise (nothing usable was supplied);
 * each with every scheme's reason.
 */
export async function unwrapLayerKey(descriptor: LayerDescriptor, keys: DecryptionKeys): Promise<LayerCipherOptions> {
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
  return unwrapFromSchemes(wrapped, publicOptions, keys);
}

/**
 * The scheme loop of unwrapLayerKey. Whatever goes wrong inside one scheme, an
 * unforeseen exception included, is that scheme's failure and the next
 * scheme is still tried; only coded errors (an unusable key-provider config)
 * end the layer at once. Every scheme spends from one budget of private-key
 * operations (OperationBudget): a scheme stopped by one of its limits
 * (token or provider calls) leaves the others free to try, and when none
 * opens the layer it fails with ERR_WORK_LIMIT.
 */
export async function unwrapFromSchemes(wrapped: readonly WrappedKeys[], publicOptions: PublicOptions, keys: DecryptionKeys): Promise<LayerCipherOptions> {
  const missing: string[] = [];
  const failed: string[] = [];
  const malformed: string[] = [];
  const limited: string[] = [];
  let untried = 0;
  let lockedKeys = keys.unusable.some(isLockedKey);
  const budget = new OperationBudget();
  for (const entry of wrapped) {
    const scheme = await entry.load();
    const keyCheck = scheme.checkKeys(keys);
    if (!keyCheck.canTry) {
      missing.push(`${entry.scheme}: ${keyCheck.missing}`);
      untried++;
      continue;
    }
    let privateOptions: Buffer;
    try {
      privateOptions = await scheme.unwrap(decodeItems(entry.value), keys, budget);
    } catch (error) {
      if (error instanceof OperationLimitReached) {
        limited.push(`${entry.scheme}: ${error.message}`);
        continue;
      }
      if (error instanceof DecoderError) throw error;
      if (!(error instanceof UnwrapFailure)) {
        malformed.push(`${entry.scheme}: failed on this input (${printable(String(error), 120)})`);
        continue;
      }
      const reasons = { 'no-usable-key': missing, 'no-key-fits': failed, 'malformed-items': malformed }[error.kind];
      reasons.push(`${entry.scheme}: ${error.message}`);
      lockedKeys ||= error.lockedKeys;
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
  const onlyKeyProviders = wrapped.every((entry) => isKeyProviderScheme(entry.scheme));
  if (limited.length > 0) {
    throw new WorkLimitError(`unwrapping this layer needs more work than allowed (${[...limited, ...failed, ...malformed, ...missing].join('; ')})`, WORK_LIMIT_HINT);
  }
  if (failed.length > 0) {
    throw new NoMatchingKeyError(
      `keys were supplied but none unwraps this layer (${[...failed, ...malformed, ...missing].join('; ')}${skipped})`,
      onlyKeyProviders ? CHECK_PROVIDER_HINT : 'add the private key the image was encrypted for, or fix the password, PIN or module named above',
    );
  }
  if (malformed.length > 0 && missing.length === untried) {
    throw new AnnotationError(
      `layer's wrapped keys are malformed or corrupt (${[...malformed, ...missing].join('; ')})`,
      untried > 0 ? `${CORRUPT_HINT}, or supply a key for another scheme named above` : CORRUPT_HINT,
    );
  }
  throw new NoKeySuppliedError(
    `no key supplied for this layer's schemes (${[...missing, ...malformed].join('; ')}${skipped})`,
    onlyKeyProviders ? CONFIGURE_PROVIDER_HINT : lockedKeys ? GIVE_PASSWORD_HINT : PUT_KEY_HINT,
  );
}

/** A key that was skipped only for want of its right password (none given, or the wrong one). */
function isLockedKey(entry: UnusableKey): boolean {
  return entry.needsPassword === true || /\bwrong password\b/.test(entry.reason);
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

/**
 * The base64 items of a wrapped-key annotation; UnwrapFailure ('malformed-items')
 * when one is not base64 or too large, or there are too many.
 */
export function decodeItems(value: string): Buffer[] {
  // Counted before splitting: 16 MiB of commas would otherwise be 16 million strings.
  let count = 1;
  for (let comma = value.indexOf(','); comma !== -1; comma = value.indexOf(',', comma + 1)) count++;
  if (count > MAX_WRAPPED_ITEMS) throw new UnwrapFailure(`${count} items (limit ${MAX_WRAPPED_ITEMS})`, 'malformed-items');
  return value.split(',').map((item, index) => {
    const bytes = decodeStdBase64(item);
    if (bytes === null) throw new UnwrapFailure(`item ${index} is not valid base64`, 'malformed-items');
    if (bytes.length > MAX_WRAPPED_ITEM_BYTES) throw new UnwrapFailure(`item ${index} is ${bytes.length} bytes (limit ${MAX_WRAPPED_ITEM_BYTES})`, 'malformed-items');
    return bytes;
  });
}
