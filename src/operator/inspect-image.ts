import { parsePublicOptions } from '../blockcipher/options.ts';
import { decodeAnnotation, decodeItems, unwrapLayerKey } from '../decode/unwrap-layer-key.ts';
import { DecoderError, NoKeySuppliedError, NoMatchingKeyError } from '../errors.ts';
import type { DecryptionKeys } from '../keys/decryption-keys.ts';
import { wrappedKeysOf } from '../decode/scheme-registry.ts';
import { PUBLIC_OPTIONS_ANNOTATION, WRAPPED_KEYS_ANNOTATION_PREFIX, isKeyProviderScheme } from '../keywrap/annotations.ts';
import { UnwrapFailure } from '../keywrap/scheme.ts';
import type { Descriptor } from './oci/image.ts';
import { isEncryptedMediaType, isEncryptionAnnotation } from './oci/media-types.ts';

/** One local key to try on each layer, alone. */
export interface KeyCandidate {
  origin: string;
  /** Only these schemes' wrapped keys are tried with it (key providers never are: they are not local keys). */
  schemes: readonly string[];
  keys: DecryptionKeys;
}

export interface SchemeReport {
  /** The annotation suffix: "jwe", "pgp", "provider.<name>", ... */
  scheme: string;
  items: number;
  /** What the items reveal about their recipients; null when the scheme cannot tell. */
  recipients: string[] | null;
}

export interface LayerReport {
  digest: string;
  mediaType: string;
  size: number;
  encrypted: boolean;
  schemes: SchemeReport[];
  /** Wrapped-key annotations of schemes this decoder does not know. */
  unknownSchemes: string[];
  cipher: string | null;
  /** Why the layer could not be decrypted whatever the key (malformed annotations, missing options). */
  problems: string[];
  /** The candidates that unwrap the layer key; null when none were tried (no keys given, or only key providers wrap it). */
  openedBy: string[] | null;
}

/**
 * A layer's encryption as its descriptor shows it, and which candidates
 * would open it: each candidate goes through the decoder's own unwrap
 * (decode/unwrap-layer-key.ts), which reads no blob.
 */
export async function inspectLayer(descriptor: Descriptor, candidates: readonly KeyCandidate[] | null): Promise<LayerReport> {
  const { wrapped, unknownSchemes } = wrappedKeysOf(descriptor.annotations);
  const report: LayerReport = {
    digest: descriptor.digest,
    mediaType: descriptor.mediaType,
    size: descriptor.size,
    encrypted: isEncryptedMediaType(descriptor.mediaType) || [...descriptor.annotations.keys()].some(isEncryptionAnnotation),
    schemes: [],
    unknownSchemes,
    cipher: null,
    problems: [],
    openedBy: null,
  };
  if (!report.encrypted) return report;

  for (const entry of wrapped) {
    try {
      const items = decodeItems(entry.value);
      const scheme = await entry.load();
      report.schemes.push({ scheme: entry.scheme, items: items.length, recipients: (await scheme.describeRecipients?.(items)) ?? null });
    } catch (error) {
      if (!(error instanceof UnwrapFailure)) throw error;
      report.schemes.push({ scheme: entry.scheme, items: 0, recipients: null });
      report.problems.push(`${WRAPPED_KEYS_ANNOTATION_PREFIX}${entry.scheme}: ${error.message}`);
    }
  }
  if (wrapped.length === 0) report.problems.push('no wrapped keys of a known scheme: no key can open it');
  try {
    report.cipher = parsePublicOptions(decodeAnnotation(descriptor, PUBLIC_OPTIONS_ANNOTATION)).cipher;
  } catch (error) {
    if (!(error instanceof DecoderError)) throw error;
    report.problems.push(error.message);
  }
  // Key providers are not local keys: a layer only they can open is not tried (nothing is run).
  if (candidates !== null && wrapped.some((entry) => !isKeyProviderScheme(entry.scheme))) {
    report.openedBy = await keysThatOpen(descriptor, candidates, report.problems);
  }
  return report;
}

async function keysThatOpen(descriptor: Descriptor, candidates: readonly KeyCandidate[], problems: string[]): Promise<string[]> {
  const opened: string[] = [];
  for (const candidate of candidates) {
    const annotations = new Map(
      [...descriptor.annotations].filter(
        ([name]) => !name.startsWith(WRAPPED_KEYS_ANNOTATION_PREFIX) || candidate.schemes.includes(name.slice(WRAPPED_KEYS_ANNOTATION_PREFIX.length)),
      ),
    );
    if (wrappedKeysOf(annotations).wrapped.length === 0) continue;
    try {
      const options = await unwrapLayerKey({ ...descriptor, annotations }, candidate.keys);
      options.symmetricKey.fill(0);
      opened.push(candidate.origin);
    } catch (error) {
      if (error instanceof NoKeySuppliedError || error instanceof NoMatchingKeyError) continue;
      if (!(error instanceof DecoderError)) throw error;
      if (!problems.includes(error.message)) problems.push(error.message);
    }
  }
  return opened;
}
