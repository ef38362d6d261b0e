import type { DecryptionKeys, SuppliedBytes } from '../keys/decryption-keys.ts';
import type { OperationBudget } from './operation-budget.ts';

/**
 * One key-wrap scheme (JWE, OpenPGP, PKCS#7, PKCS#11, a key provider). It
 * only turns wrapped-key items into the layer's private options; the stream
 * path never sees which scheme did it.
 */
export interface KeyWrapScheme {
  /** The annotation suffix: "jwe", "pgp", "pkcs7", "pkcs11", "provider.<name>". */
  readonly name: string;
  /**
   * Whether the supplied keys give this scheme something to try; when not,
   * what the operator would have to supply (this drives the "no key supplied"
   * versus "no key fits" distinction).
   */
  checkKeys(keys: DecryptionKeys): KeyCheck;
  /**
   * Resolves to the private options JSON, or rejects with UnwrapFailure saying
   * why no key fitted. Every private-key operation, token call or provider call
   * is first spent from `budget` (the layer's, shared by all schemes; a fresh
   * one when left out), whose OperationLimitReached propagates.
   */
  unwrap(items: readonly Buffer[], keys: DecryptionKeys, budget?: OperationBudget): Promise<Buffer>;
  /**
   * For `ctd-decoder inspect`, never on the decode path: what the wrapped-key
   * items reveal about their recipients without any private key (OpenPGP key
   * IDs, PKCS#7 issuer and serial, JWE algorithms), one line per recipient.
   * Schemes whose format reveals nothing leave it out.
   */
  describeRecipients?(items: readonly Buffer[]): string[] | Promise<string[]>;
  /**
   * For `ctd-decoder keys`: how key material this scheme parses itself
   * (OpenPGP keyrings, PKCS#11 key files) identifies, e.g. fingerprints and
   * user IDs, or a PKCS#11 URI without its PIN. One line per key.
   */
  describeKeyMaterial?(material: SuppliedBytes): Promise<string[]>;
}

export type KeyCheck = { canTry: true } | { canTry: false; missing: string };

export const CAN_TRY: KeyCheck = { canTry: true };

export function cannotTry(missing: string): KeyCheck {
  return { canTry: false, missing };
}

/**
 * Why a scheme that had keys could not unwrap, which decides the error code:
 * - 'no-key-fits': keys were tried and none opened an item (ERR_NO_MATCHING_KEY);
 * - 'no-usable-key': none of the keys could even be tried (protected without
 *   a passphrase, wrong passphrase, a stub): the operator then hears "no key
 *   supplied" (ERR_NO_KEY_SUPPLIED) rather than "none fits";
 * - 'malformed-items': no item could be read (not base64, not the scheme's
 *   format, over a limit) or a key that provably matches did not open it:
 *   the image is corrupt, whatever key is added (ERR_BAD_ANNOTATION).
 */
export type UnwrapFailureKind = 'no-key-fits' | 'no-usable-key' | 'malformed-items';

/**
 * A scheme could not unwrap; the message is its part of the one-line error.
 * `lockedKeys` says that a key was unusable for want of its right password or
 * passphrase, so the advice is to give it.
 */
export class UnwrapFailure extends Error {
  readonly kind: UnwrapFailureKind;
  readonly lockedKeys: boolean;

  constructor(message: string, kind: UnwrapFailureKind = 'no-key-fits', options: { lockedKeys?: boolean } = {}) {
    super(message);
    this.kind = kind;
    this.lockedKeys = options.lockedKeys ?? false;
  }
}
