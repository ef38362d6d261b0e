import { createPrivateKey, type KeyObject } from 'node:crypto';
import { errorCode } from '../errors.ts';

export type PrivateKeyParse =
  | { ok: true; key: KeyObject }
  | { ok: false; reason: string; needsPassword?: boolean };

const DER_TYPES = ['pkcs8', 'pkcs1', 'sec1'] as const;
const NO_PASSWORD: PrivateKeyParse = { ok: false, reason: 'password-protected key and no password given', needsPassword: true };
const WRONG_PASSWORD = 'wrong password for the encrypted key';

/**
 * Opens a private key in any form users keep one: PEM (PKCS#8, encrypted
 * PKCS#8, PKCS#1 with or without DEK-Info, SEC1 "EC PRIVATE KEY"), DER
 * (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1) or a private JWK.
 */
export function parsePrivateKey(bytes: Uint8Array, password: Uint8Array | null): PrivateKeyParse {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const passphrase = password === null ? undefined : Buffer.from(password);
  const text = looksLikeText(buffer) ? buffer.toString('utf8') : null;
  if (text !== null && text.includes('-----BEGIN ')) return fromPem(text, passphrase);
  if (text !== null && text.trimStart().startsWith('{')) return fromJwk(text);
  return fromDer(buffer, passphrase);
}

function fromPem(text: string, passphrase: Buffer | undefined): PrivateKeyParse {
  if (!/-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/.test(text)) {
    return { ok: false, reason: notPrivate(text) };
  }
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || text.includes('DEK-Info:');
  if (encrypted && passphrase === undefined) return NO_PASSWORD;
  try {
    return { ok: true, key: createPrivateKey({ key: text, format: 'pem', passphrase }) };
  } catch {
    return { ok: false, reason: encrypted ? WRONG_PASSWORD : 'unreadable private key PEM' };
  }
}

function fromJwk(text: string): PrivateKeyParse {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not a key (JSON but not a JWK)' };
  }
  if (typeof jwk !== 'object' || jwk === null || !('kty' in jwk)) return { ok: false, reason: 'not a key (JSON but not a JWK)' };
  if (!('d' in jwk)) return { ok: false, reason: 'public JWK, not a private key' };
  try {
    return { ok: true, key: createPrivateKey({ key: jwk as never, format: 'jwk' }) };
  } catch {
    return { ok: false, reason: 'unsupported private JWK' };
  }
}

function fromDer(der: Buffer, passphrase: Buffer | undefined): PrivateKeyParse {
  let encrypted = false;
  for (const type of DER_TYPES) {
    try {
      return { ok: true, key: createPrivateKey({ key: der, format: 'der', type }) };
    } catch (error) {
      // Node recognises encrypted PKCS#8 and asks for the password: only then is a failure with one a wrong password.
      if (errorCode(error) === 'ERR_MISSING_PASSPHRASE') encrypted = true;
    }
  }
  if (!encrypted) return { ok: false, reason: 'not a private key' };
  if (passphrase === undefined) return NO_PASSWORD;
  try {
    return { ok: true, key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8', passphrase }) };
  } catch {
    return { ok: false, reason: WRONG_PASSWORD };
  }
}

function notPrivate(text: string): string {
  if (text.includes('-----BEGIN CERTIFICATE-----')) return 'certificate, not a private key';
  if (/-----BEGIN (?:RSA |EC )?PUBLIC KEY-----/.test(text)) return 'public key, not a private key';
  if (text.includes('-----BEGIN PGP')) return 'OpenPGP key';
  return 'PEM without a private key';
}

/** True when the bytes are plausibly text (PEM, JSON, YAML), not DER or binary OpenPGP. */
export function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 512);
  for (const byte of sample) {
    if (byte < 0x09 || (byte > 0x0d && byte < 0x20) || byte === 0x7f) return false;
  }
  return sample.length > 0;
}

/** "RSA 2048", "EC P-256": what an operator recognises. */
export function describePrivateKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${curveName(details.namedCurve)}`;
  return String(key.asymmetricKeyType ?? 'unknown').toUpperCase();
}

function curveName(curve: string | undefined): string {
  switch (curve) {
    case 'prime256v1':
      return 'P-256';
    case 'secp384r1':
      return 'P-384';
    case 'secp521r1':
      return 'P-521';
    default:
      return curve ?? '?';
  }
}
