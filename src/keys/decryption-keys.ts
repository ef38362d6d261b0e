import type { KeyObject, KeyType, X509Certificate } from 'node:crypto';
import type { DecryptParameters } from '../payload/payload.ts';
import { classifyKeyFile, sniffOpenPgpKeys } from './classify.ts';

/** Where a key came from, for messages: a file path or a payload parameter entry. */
export type KeyOrigin = string;

const PAYLOAD_ORIGIN_PREFIX = 'payload ';

function payloadOrigin(parameter: string, index: number): KeyOrigin {
  return `${PAYLOAD_ORIGIN_PREFIX}${parameter}[${index}]`;
}

/** True for keys that came in the decryption payload rather than from the keys directory. */
export function isPayloadOrigin(origin: KeyOrigin): boolean {
  return origin.startsWith(PAYLOAD_ORIGIN_PREFIX);
}

export interface SuppliedPrivateKey {
  origin: KeyOrigin;
  key: KeyObject;
  description: string;
}

/** The supplied private keys of these types ("rsa", "ec"), in the order they came. */
export function privateKeysOfType(keys: DecryptionKeys, ...types: readonly KeyType[]): SuppliedPrivateKey[] {
  return keys.privateKeys.filter((entry) => entry.key.asymmetricKeyType !== undefined && types.includes(entry.key.asymmetricKeyType));
}

export interface SuppliedCertificate {
  origin: KeyOrigin;
  certificate: X509Certificate;
}

/** Key material a scheme parses itself (OpenPGP keyrings, PKCS#11 YAML). */
export interface SuppliedBytes {
  origin: KeyOrigin;
  bytes: Buffer;
  password: Buffer | null;
}

export interface UnusableKey {
  origin: KeyOrigin;
  reason: string;
  /** An encrypted private key that came without a password. */
  needsPassword?: boolean;
}

/** Everything the schemes may use to unwrap a layer key, keys directory first, payload after. */
export interface DecryptionKeys {
  privateKeys: SuppliedPrivateKey[];
  certificates: SuppliedCertificate[];
  gpgSecretKeys: SuppliedBytes[];
  pkcs11Yamls: SuppliedBytes[];
  pkcs11Config: Buffer | null;
  /**
   * Payload parameters that are not key material of the schemes above: by
   * ocicrypt's convention `<provider name>: [values]` for key providers. Kept
   * apart so a key provider is never handed the node's private keys.
   */
  keyProviderParameters: DecryptParameters;
  /** Files and entries that were skipped, with why: shown when no key fits. */
  unusable: UnusableKey[];
}

/** A file of a keys directory, as read. */
export interface KeyFile {
  /** Path as the operator wrote it (keys directory + relative path). */
  path: string;
  bytes: Buffer;
  /** Permission bits of the file read (the symlink's target when reached through one). */
  mode: number;
  /** Reached through a symlink (inside the directory, or it would have been skipped). */
  viaSymlink: boolean;
}

/** What assembly reads of a key file: where it came from and its bytes. */
type KeyFileContent = Pick<KeyFile, 'path' | 'bytes'>;

const KEY_PARAMETER_NAMES = new Set([
  'privkeys',
  'privkeys-passwords',
  'x509s',
  'gpg-privatekeys',
  'gpg-privatekeys-passwords',
  'pkcs11-yamls',
  'pkcs11-config',
]);

/**
 * Sorts keys-directory files and payload parameters into what each scheme
 * consumes. ocicrypt's parameter names are the payload's contract:
 * privkeys/privkeys-passwords, x509s, gpg-privatekeys/gpg-privatekeys-passwords,
 * pkcs11-yamls, pkcs11-config.
 */
export function assembleDecryptionKeys(files: readonly KeyFileContent[], parameters: DecryptParameters): DecryptionKeys {
  const keys: DecryptionKeys = {
    privateKeys: [],
    certificates: [],
    gpgSecretKeys: [],
    pkcs11Yamls: [],
    pkcs11Config: null,
    keyProviderParameters: new Map([...parameters].filter(([name]) => !KEY_PARAMETER_NAMES.has(name))),
    unusable: [],
  };
  addKeysDirectoryFiles(keys, files);

  const passwords = parameters.get('privkeys-passwords') ?? [];
  (parameters.get('privkeys') ?? []).forEach((bytes, i) => {
    if (bytes !== null) addKeyFile(keys, payloadOrigin('privkeys', i), bytes, passwords[i] ?? null);
  });
  (parameters.get('x509s') ?? []).forEach((bytes, i) => {
    if (bytes !== null) addKeyFile(keys, payloadOrigin('x509s', i), bytes, null);
  });
  const gpgPasswords = parameters.get('gpg-privatekeys-passwords') ?? [];
  (parameters.get('gpg-privatekeys') ?? []).forEach((bytes, i) => {
    if (bytes === null) return;
    const origin = payloadOrigin('gpg-privatekeys', i);
    const kind = sniffOpenPgpKeys(bytes);
    if (kind?.kind === 'unusable') keys.unusable.push({ origin, reason: kind.reason });
    else keys.gpgSecretKeys.push({ origin, bytes, password: gpgPasswords[i] ?? null });
  });
  (parameters.get('pkcs11-yamls') ?? []).forEach((bytes, i) => {
    if (bytes !== null) keys.pkcs11Yamls.push({ origin: payloadOrigin('pkcs11-yamls', i), bytes, password: null });
  });
  keys.pkcs11Config = parameters.get('pkcs11-config')?.find((bytes) => bytes !== null) ?? null;
  return keys;
}

/** `NAME.password` beside a key file `NAME` holds that key's password (first line). */
export const PASSWORD_FILE_SUFFIX = '.password';

/** What pairing makes of one keys-directory file, in the order the files came. */
export type PairedFile<F extends { path: string }> =
  | { role: 'key'; file: F; passwordFile: F | null }
  | { role: 'password'; file: F; keyPath: string }
  | { role: 'orphan-password'; file: F };

/**
 * Pairs each `NAME.password` file with the key file `NAME`: the Go decoder
 * has no way to give a password for a key on disk, we do. A password file
 * whose key is absent is an orphan.
 */
export function pairPasswordFiles<F extends { path: string }>(files: readonly F[]): PairedFile<F>[] {
  const byPath = new Map(files.map((file) => [file.path, file]));
  return files.map((file): PairedFile<F> => {
    if (file.path.endsWith(PASSWORD_FILE_SUFFIX)) {
      const keyPath = file.path.slice(0, -PASSWORD_FILE_SUFFIX.length);
      return byPath.has(keyPath) ? { role: 'password', file, keyPath } : { role: 'orphan-password', file };
    }
    return { role: 'key', file, passwordFile: byPath.get(file.path + PASSWORD_FILE_SUFFIX) ?? null };
  });
}

function addKeysDirectoryFiles(keys: DecryptionKeys, files: readonly KeyFileContent[]): void {
  for (const paired of pairPasswordFiles(files)) {
    if (paired.role === 'orphan-password') keys.unusable.push({ origin: paired.file.path, reason: 'password file without its key file' });
    if (paired.role !== 'key') continue;
    const { file, passwordFile } = paired;
    addKeyFile(keys, file.path, file.bytes, passwordFile === null ? null : firstLine(passwordFile.bytes));
  }
}

function firstLine(bytes: Buffer): Buffer {
  const end = bytes.indexOf(0x0a);
  const line = end === -1 ? bytes : bytes.subarray(0, end);
  return line.at(-1) === 0x0d ? line.subarray(0, -1) : line;
}

function addKeyFile(keys: DecryptionKeys, origin: KeyOrigin, bytes: Buffer, password: Buffer | null): void {
  const kind = classifyKeyFile(bytes, password);
  switch (kind.kind) {
    case 'private-key':
      keys.privateKeys.push({ origin, key: kind.key, description: kind.description });
      break;
    case 'certificate':
      keys.certificates.push({ origin, certificate: kind.certificate });
      break;
    case 'gpg-secret-keys':
      keys.gpgSecretKeys.push({ origin, bytes, password });
      break;
    case 'pkcs11-yaml':
      keys.pkcs11Yamls.push({ origin, bytes, password: null });
      break;
    case 'unusable':
      keys.unusable.push(kind.needsPassword ? { origin, reason: kind.reason, needsPassword: true } : { origin, reason: kind.reason });
      break;
  }
}
