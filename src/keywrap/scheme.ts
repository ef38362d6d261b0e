import type { DecryptionKeys } from '../keys/decryption-keys.ts';

/**
 * One key-wrap scheme (JWE, OpenPGP, PKCS#7, PKCS#11, a key provider). It
 * only turns wrapped-key items into the layer's private options; the stream
 * path never sees which scheme did it.
 */
export interface KeyWrapScheme {
  /** The annotation suffix: "jwe", "pgp", "pkcs7", "pkcs11", "provider.<name>". */
  readonly name: string;
  /**
   * Null when the supplied keys give this scheme something to try; otherwise
   * what the operator would have to supply (this drives the "no key supplied"
   * versus "no key fits" distinction).
   */
  missingKeys(keys: DecryptionKeys): string | null;
  /** Resolves to the private options JSON, or rejects with UnwrapFailure saying why no key fitted. */
  unwrap(items: readonly Buffer[], keys: DecryptionKeys): Promise<Buffer>;
}

/** A scheme had keys but could not unwrap; the message is its part of the one-line error. */
export class UnwrapFailure extends Error {}
