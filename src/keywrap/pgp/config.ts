import type { PartialConfig } from 'openpgp';

/**
 * openpgp settings for opening ocicrypt's wrapped keys with gpg-made secret
 * keys. Everything that decides whether gpg 2.2 or Go (ocicrypt) output opens
 * is pinned here rather than left to library defaults.
 */
export const DECRYPT_CONFIG: PartialConfig = {
  // ocicrypt and gpg write SEIPD v1 with MDC: data without integrity protection is refused.
  allowUnauthenticatedMessages: false,
  allowUnauthenticatedStream: false,
  // The literal data is a few hundred bytes of JSON; a compressed item may not inflate beyond this.
  maxDecompressedMessageSize: 64 * 1024,
  // gpg and Go read a key without key flags as usable for anything; openpgp would refuse it.
  allowMissingKeyFlags: true,
  // Subkey bindings of old gpg keys may use SHA-1 or RIPEMD-160. The operator chose these keys;
  // refusing old binding hashes would only lock out keys gpg still decrypts with.
  rejectHashAlgorithms: new Set(),
  // openpgp 6 checks these only when encrypting, signing or generating, never when decrypting.
  // Pinned so that an upgrade cannot start refusing ElGamal, 1024-bit RSA or secp256k1 gpg keys.
  minRSABits: 1024,
  rejectPublicKeyAlgorithms: new Set(),
  rejectCurves: new Set(),
};
