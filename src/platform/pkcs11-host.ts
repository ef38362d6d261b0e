import { readdirSync, statSync } from 'node:fs';
import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import { configFileLocations, usesInternalConfig, type LocalConfig } from '../keywrap/pkcs11/config.ts';
import { PinSourceError, type Pkcs11Host } from '../keywrap/pkcs11/host.ts';
import type { ModuleFiles } from '../keywrap/pkcs11/module-lookup.ts';
import { loadPkcs11Binding } from './pkcs11-binding.ts';
import { describeSmallFileFailure, readSmallRegularFile } from './small-file.ts';

/** A PIN is a few bytes; anything larger is not a PIN file. */
const MAX_PIN_FILE_BYTES = 4096;
/** ocicrypt.conf is a few hundred bytes; this only stops a wrong path from being read whole. */
const MAX_CONFIG_BYTES = 1024 * 1024;

const moduleFiles: ModuleFiles = {
  kind(path) {
    try {
      const stats = statSync(path, { throwIfNoEntry: false });
      if (stats === undefined) return 'missing';
      return stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other';
    } catch {
      return 'missing';
    }
  },
  list(directory) {
    try {
      return readdirSync(directory).sort();
    } catch {
      return null;
    }
  },
};

/** The PKCS#11 scheme's view of this machine: process.env, the filesystem, the embedded binding. */
export const systemPkcs11Host: Pkcs11Host = {
  localConfig: () => readLocalConfig(process.env),
  arch: process.arch,
  moduleFiles,
  readPinFile,
  binding: loadPkcs11Binding,
  withEnvironment,
};

/**
 * ocicrypt's config lookup: OCICRYPT_CONFIG ("internal" or a file), then the
 * documented files; the first that exists wins. Read as a small regular file,
 * so a FIFO there cannot hang the decoder.
 */
export function readLocalConfig(env: NodeJS.ProcessEnv): LocalConfig {
  if (usesInternalConfig(env)) return { kind: 'internal' };
  const searched = configFileLocations(env);
  for (const path of searched) {
    const read = readSmallRegularFile(path, MAX_CONFIG_BYTES);
    if (read.ok) return { kind: 'file', path, text: read.bytes.toString('utf8') };
    if (read.failure !== 'missing') return { kind: 'unreadable', path, reason: describeSmallFileFailure(read) };
  }
  return { kind: 'none', searched };
}

/** Read as a small regular file, so a FIFO named as pin-source cannot hang the decoder. */
function readPinFile(path: string): Buffer {
  const read = readSmallRegularFile(path, MAX_PIN_FILE_BYTES);
  if (read.ok) return read.bytes;
  throw new PinSourceError(`cannot read pin-source ${quoteUntrusted(path, 200)} (${describeSmallFileFailure(read)})`);
}

/**
 * Sets a key file's module variables for one call and restores every one of
 * them afterwards (modules such as SoftHSM2 read theirs in C_Initialize).
 * process.env assignments reach the C environment the module reads.
 */
export function withEnvironment<T>(variables: ReadonlyMap<string, string>, call: () => T): T {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of variables) {
    saved.set(name, process.env[name]);
    process.env[name] = value;
  }
  try {
    return call();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
