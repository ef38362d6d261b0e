import { X509Certificate, type KeyObject } from 'node:crypto';
import { parsePkcs11KeyFile, Pkcs11KeyFileError } from './pkcs11-key-file.ts';
import { describePrivateKey, looksLikeText, parsePrivateKey } from './private-key.ts';

/** What a file in the keys directory (or a payload entry) turned out to be. */
export type KeyFileKind =
  | { kind: 'pkcs11-yaml' }
  | { kind: 'private-key'; key: KeyObject; description: string }
  | { kind: 'certificate'; certificate: X509Certificate }
  | { kind: 'gpg-secret-keys'; armored: boolean }
  | { kind: 'unusable'; reason: string; needsPassword?: boolean };

const OPENPGP_SECRET_KEY_TAG = 5;
const OPENPGP_PUBLIC_KEY_TAG = 6;

/**
 * Sniffs one key file, in the order ocicrypt uses: PKCS#11 key YAML, private
 * key, X.509 certificate, OpenPGP secret keys. OpenPGP parsing is left to its
 * scheme; a PKCS#11 key file is judged by the scheme's own (small, pure)
 * reader, so the two cannot disagree.
 */
export function classifyKeyFile(bytes: Uint8Array, password: Uint8Array | null): KeyFileKind {
  const text = looksLikeText(bytes) ? Buffer.from(bytes).toString('utf8') : null;
  // The substring test keeps the YAML reader away from every other key file.
  const pkcs11 = text !== null && text.includes('pkcs11') ? pkcs11KeyFileKind(text) : null;
  if (pkcs11 !== null) return pkcs11;

  const privateKey = parsePrivateKey(bytes, password);
  if (privateKey.ok) return { kind: 'private-key', key: privateKey.key, description: describePrivateKey(privateKey.key) };
  if (privateKey.needsPassword) return { kind: 'unusable', reason: privateKey.reason, needsPassword: true };

  if (text === null || text.includes('-----BEGIN CERTIFICATE-----')) {
    try {
      return { kind: 'certificate', certificate: new X509Certificate(Buffer.from(bytes)) };
    } catch {
      // Not a certificate either.
    }
  }

  const openPgp = sniffOpenPgpKeys(bytes);
  if (openPgp !== null) return openPgp;
  return { kind: 'unusable', reason: privateKey.reason };
}

/** Binary or armored OpenPGP keys: secret keys, public keys only, or null for neither. */
export function sniffOpenPgpKeys(bytes: Uint8Array): KeyFileKind | null {
  const text = looksLikeText(bytes) ? Buffer.from(bytes).toString('utf8') : null;
  if (text !== null && text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) return { kind: 'gpg-secret-keys', armored: true };
  const tag = text === null ? openPgpPacketTag(bytes) : null;
  if (tag === OPENPGP_SECRET_KEY_TAG) return { kind: 'gpg-secret-keys', armored: false };
  if (tag === OPENPGP_PUBLIC_KEY_TAG || text?.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    return { kind: 'unusable', reason: 'OpenPGP public key, not a secret key' };
  }
  return null;
}

/** A PKCS#11 key file, usable or not; null for text that is not meant as one. */
function pkcs11KeyFileKind(text: string): KeyFileKind | null {
  try {
    parsePkcs11KeyFile(Buffer.from(text, 'utf8'));
    return { kind: 'pkcs11-yaml' };
  } catch (error) {
    if (!(error instanceof Pkcs11KeyFileError)) throw error;
    return error.meantAsKeyFile ? { kind: 'unusable', reason: `not a usable PKCS#11 key file: ${error.message}` } : null;
  }
}

/** The tag of the first OpenPGP packet (RFC 4880 §4.2), or null when the first byte is no packet header. */
function openPgpPacketTag(bytes: Uint8Array): number | null {
  const header = bytes[0];
  if (header === undefined || (header & 0x80) === 0) return null;
  return header & 0x40 ? header & 0x3f : (header & 0x3c) >> 2;
}
