import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { RegisteredScheme } from '../decode/scheme-registry.ts';
import { PASSWORD_FILE_SUFFIX, assembleDecryptionKeys, pairPasswordFiles, type DecryptionKeys, type KeyFile } from '../keys/decryption-keys.ts';
import type { KeysDirectoryContents } from '../platform/keys-directory.ts';

/**
 * What the decoder makes of each file of a keys directory, for operators
 * (`ctd-decoder keys`, `inspect`, `doctor`). Every file goes alone through
 * the same assembly the decode path uses, so the listing cannot disagree
 * with what containerd's decoder will do.
 */
export type InventoryInput = Pick<KeysDirectoryContents, 'files' | 'skipped'>;

/** key: unwraps layers; helper: a certificate or password that serves a key; unusable: the decoder ignores it. */
export type KeyRole = 'key' | 'helper' | 'unusable';

export interface KeyInventoryEntry {
  path: string;
  role: KeyRole;
  /** "RSA 2048 private key", "X.509 certificate", "password for a.pem", or why the file is unusable. */
  what: string;
  /** The schemes this file can unwrap for, by the schemes' own judgement. */
  schemes: string[];
  /** A fingerprint to compare with the encrypting side: SHA-256 of the public key (SubjectPublicKeyInfo DER). */
  fingerprint: string | null;
  /** What the owning scheme reports about key material it parses itself (OpenPGP keys, PKCS#11 URIs). */
  details: string[];
  warnings: string[];
  /** This key alone (with its password file and the directory's certificates), ready for a trial unwrap. */
  keys: DecryptionKeys | null;
}

const NO_PARAMETERS: ReadonlyMap<string, readonly (Buffer | null)[]> = new Map();

export async function takeKeyInventory(input: InventoryInput, schemes: readonly RegisteredScheme[]): Promise<KeyInventoryEntry[]> {
  const loaded = await Promise.all(schemes.map(async (scheme) => ({ name: scheme.name, scheme: await scheme.load() })));
  const certificateFiles = input.files.filter((file) => {
    const alone = assembleDecryptionKeys([file], NO_PARAMETERS);
    return alone.certificates.length > 0;
  });

  const entries: KeyInventoryEntry[] = [];
  for (const paired of pairPasswordFiles(input.files)) {
    const file = paired.file;
    if (paired.role === 'password') {
      entries.push(entry(file, 'helper', `password for ${paired.keyPath}`, secretFileWarnings(file)));
      continue;
    }
    // An orphan password file goes through assembly alone, which says it is one.
    const passwordFile = paired.role === 'key' ? paired.passwordFile : null;
    const keys = assembleDecryptionKeys(passwordFile ? [file, passwordFile] : [file], NO_PARAMETERS);
    const unusable = keys.unusable[0];
    if (unusable !== undefined) {
      const warnings = unusable.needsPassword ? [`password needed: write it to ${file.path}${PASSWORD_FILE_SUFFIX} (first line)`] : [];
      entries.push(entry(file, 'unusable', unusable.reason, warnings));
      continue;
    }
    const certificate = keys.certificates[0];
    if (certificate !== undefined) {
      const described = entry(file, 'helper', `X.509 certificate ${certificate.certificate.subject.replace(/\n/g, ', ')}`, []);
      described.fingerprint = spkiFingerprint(certificate.certificate.publicKey);
      described.details.push(`serial ${certificate.certificate.serialNumber}, issuer ${certificate.certificate.issuer.replace(/\n/g, ', ')}`);
      entries.push(described);
      continue;
    }
    const withCertificates = assembleDecryptionKeys(
      [file, ...(passwordFile ? [passwordFile] : []), ...certificateFiles.filter((other) => other !== file)],
      NO_PARAMETERS,
    );
    const privateKey = keys.privateKeys[0];
    const described = entry(file, 'key', privateKey ? `${privateKey.description} private key` : keys.gpgSecretKeys[0] ? 'OpenPGP secret keys' : 'PKCS#11 key file', secretFileWarnings(file));
    described.keys = withCertificates;
    described.fingerprint = privateKey ? spkiFingerprint(privateKey.key) : null;
    for (const { name, scheme } of loaded) {
      if (!scheme.checkKeys(keys).canTry) continue;
      described.schemes.push(name);
      const material = keys.gpgSecretKeys[0] ?? keys.pkcs11Yamls[0];
      if (material !== undefined && scheme.describeKeyMaterial) described.details.push(...(await scheme.describeKeyMaterial(material)));
    }
    if (described.schemes.length === 0) {
      described.role = 'unusable';
      described.what += ': no scheme can use it';
    }
    entries.push(described);
  }
  for (const skipped of input.skipped) {
    const warnings = skipped.reason.startsWith('symlink points outside')
      ? ['the keys directory must be self-contained: copy the file in, or mount it inside the directory']
      : [];
    entries.push({ path: skipped.path, role: 'unusable', what: skipped.reason, schemes: [], fingerprint: null, details: [], warnings, keys: null });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function entry(file: KeyFile, role: KeyRole, what: string, warnings: string[]): KeyInventoryEntry {
  return {
    path: file.path,
    role,
    what,
    schemes: [],
    fingerprint: null,
    details: file.viaSymlink ? ['reached through a symlink that stays inside the directory (followed)'] : [],
    warnings,
    keys: null,
  };
}

/** Private keys and passwords must not be readable by anyone but their owner (containerd runs as root). */
function secretFileWarnings(file: KeyFile): string[] {
  if ((file.mode & 0o077) === 0) return [];
  return [`group or others have access (mode ${formatMode(file.mode)}): chmod 600 ${file.path}`];
}

export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** "sha256:<hex>" of the public key's SubjectPublicKeyInfo: `openssl pkey -pubout -outform DER | sha256sum` gives the same. */
export function spkiFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return `sha256:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}
