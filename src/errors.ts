/**
 * Every failure the decoder reports is one of these classes. The code is stable
 * (operators grep for it); the message says what failed, the hint what to do.
 * Messages never carry key material, passwords or HMAC values.
 */
export abstract class DecoderError extends Error {
  abstract readonly code: string;
  readonly hint: string | undefined;

  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.hint = hint;
  }

  /**
   * "DecoderError [ERR_…]", as Node names its coded errors, for stack traces
   * and test failures. From the code, not the class name: the release bundle
   * is minified.
   */
  override get name(): string {
    return `DecoderError [${this.code}]`;
  }
}

/**
 * The code Node.js puts on its errors ("ENOENT", "EAGAIN",
 * "ERR_MISSING_PASSPHRASE"), or `fallback` when there is none: what a message
 * shows of a failed system call.
 */
export function errorCode(error: unknown, fallback = 'error'): string {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : fallback;
}

/** The command line is wrong. */
export class UsageError extends DecoderError {
  readonly code = 'ERR_USAGE';
}

/** containerd sent no decryption payload (no fd 3 / named pipe). */
export class PayloadMissingError extends DecoderError {
  readonly code = 'ERR_NO_PAYLOAD';
}

/** No payload, and no containerd content store to find the layer's descriptor in. */
export class ContentStoreNotFoundError extends DecoderError {
  readonly code = 'ERR_CONTENT_STORE';
}

/** No payload, and the layer on stdin is no blob the content store lookup could find. */
export class BlobNotFoundError extends DecoderError {
  readonly code = 'ERR_BLOB_NOT_FOUND';
}

/** No payload, and no manifest in the content store lists the layer as encrypted. */
export class ManifestNotFoundError extends DecoderError {
  readonly code = 'ERR_NO_MANIFEST';
}

/** The payload could not be decoded (protobuf Any, JSON, base64, limits). */
export class PayloadInvalidError extends DecoderError {
  readonly code = 'ERR_PAYLOAD_INVALID';
}

/** The layer descriptor carries no wrapped keys of a scheme we know. */
export class NotEncryptedError extends DecoderError {
  readonly code = 'ERR_NOT_ENCRYPTED';
}

/** The keys directory exists but cannot be read. */
export class KeysDirectoryError extends DecoderError {
  readonly code = 'ERR_KEYS_DIR';
}

/** No key was supplied for any scheme the layer is wrapped with. */
export class NoKeySuppliedError extends DecoderError {
  readonly code = 'ERR_NO_KEY_SUPPLIED';
}

/** Keys were supplied, but none could unwrap the layer key. */
export class NoMatchingKeyError extends DecoderError {
  readonly code = 'ERR_NO_MATCHING_KEY';
}

/**
 * Unwrapping the layer would take more private-key operations, token calls or
 * key-provider calls than the per-layer limits allow: no real image does.
 */
export class WorkLimitError extends DecoderError {
  readonly code = 'ERR_WORK_LIMIT';
}

/** The public or private layer options are missing or malformed. */
export class CipherOptionsError extends DecoderError {
  readonly code = 'ERR_CIPHER_OPTIONS';
}

/** The layer failed authentication: tampered, truncated or extended. */
export class IntegrityError extends DecoderError {
  readonly code = 'ERR_INTEGRITY';
}

/** Reading the encrypted layer from stdin failed. */
export class InputError extends DecoderError {
  readonly code = 'ERR_INPUT';
}

/** Writing the decrypted layer to stdout failed (containerd went away). */
export class OutputError extends DecoderError {
  readonly code = 'ERR_OUTPUT';
}

/** Anything we did not foresee; the message is the runtime's, the hint asks for a report. */
export class InternalError extends DecoderError {
  readonly code = 'ERR_INTERNAL';
}

/** A layer annotation (wrapped keys, public options) is malformed. */
export class AnnotationError extends DecoderError {
  readonly code = 'ERR_BAD_ANNOTATION';
}

/** The key-provider configuration exists but cannot be used: no provider can be run. */
export class KeyProviderConfigError extends DecoderError {
  readonly code = 'ERR_KEYPROVIDER_CONFIG';
}

/** An image given to an operator command (layout, archive, manifest) is missing, malformed or fails its digests. */
export class ImageError extends DecoderError {
  readonly code = 'ERR_IMAGE';
}

/** `decrypt` cannot create or write its destination layout. */
export class DestinationError extends DecoderError {
  readonly code = 'ERR_DESTINATION';
}
