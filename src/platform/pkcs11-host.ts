import { closeSync, fstatSync, openSync, readFileSync, readdirSync, statSync, constants } from 'node:fs';
import { configFileLocations, usesInternalConfig, type LocalConfig } from '../keywrap/pkcs11/config.ts';
import { PinSourceError, type Pkcs11Host } from '../keywrap/pkcs11/host.ts';
import type { ModuleFiles } from '../keywrap/pkcs11/module-lookup.ts';
import { loadPkcs11Binding } from './pkcs11-binding.ts';

/** A PIN is a few bytes; anything larger is not a PIN file. */
const MAX_PIN_FILE_BYTES = 4096;

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

/** ocicrypt's config lookup: OCICRYPT_CONFIG ("internal" or a file), then the documented files; the first that exists wins. */
export function readLocalConfig(env: NodeJS.ProcessEnv): LocalConfig {
  if (usesInternalConfig(env)) return { kind: 'internal' };
  const searched = configFileLocations(env);
  for (const path of searched) {
    try {
      return { kind: 'file', path, text: readFileSync(path, 'utf8') };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      return { kind: 'unreadable', path, reason: code ?? 'error' };
    }
  }
  return { kind: 'none', searched };
}

/** Opened non-blocking and checked to be a small regular file, so a FIFO named as pin-source cannot hang the decoder. */
function readPinFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw new PinSourceError(`cannot read pin-source ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.size > MAX_PIN_FILE_BYTES) throw new PinSourceError(`pin-source ${path} is not a small regular file`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
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
