import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRawAsset, isSea } from 'node:sea';
import { errorCode } from '../errors.ts';
import { BindingUnavailableError } from '../keywrap/pkcs11/host.ts';
import type { Pkcs11Binding, Pkcs11Functions } from '../keywrap/pkcs11/token.ts';

/** The SEA asset holding pkcs11js's N-API addon (packaging/build-binary.sh embeds it). */
const PKCS11_ADDON_ASSET = 'pkcs11js.node';
/** Where `make` builds the addon, for runs from the sources (tests, development). */
const INSTALLED_ADDON = 'pkcs11js/build/Release/pkcs11.node';

interface Pkcs11jsExports {
  PKCS11: new () => Pkcs11Functions & { load(path: string): void };
  CK_PARAMS_RSA_OAEP: number;
}

let loaded: Pkcs11Binding | BindingUnavailableError | undefined;

/** The binding, loaded once, on first use: only layers with a pkcs11 annotation and a key file get here. */
export function loadPkcs11Binding(): Pkcs11Binding {
  loaded ??= load();
  if (loaded instanceof BindingUnavailableError) throw loaded;
  return loaded;
}

function load(): Pkcs11Binding | BindingUnavailableError {
  try {
    const addon = isSea() ? loadEmbeddedAddon() : loadInstalledAddon();
    if (typeof addon.PKCS11 !== 'function' || typeof addon.CK_PARAMS_RSA_OAEP !== 'number') {
      return new BindingUnavailableError('the addon is not pkcs11js 2');
    }
    return {
      rsaOaepParamsType: addon.CK_PARAMS_RSA_OAEP,
      loadModule(path) {
        const module = new addon.PKCS11();
        module.load(path);
        return module;
      },
    };
  } catch (error) {
    if (error instanceof BindingUnavailableError) return error;
    return new BindingUnavailableError((error as Error).message.split('\n')[0]!);
  }
}

/**
 * dlopen needs a file: the embedded addon is written to a fresh directory
 * only we can enter (mkdtemp, 0700), created exclusively and read-only
 * (0500), loaded, and removed at once; the mapping outlives the file.
 */
function loadEmbeddedAddon(): Pkcs11jsExports {
  let addon: ArrayBuffer;
  try {
    addon = getRawAsset(PKCS11_ADDON_ASSET);
  } catch {
    throw new BindingUnavailableError('this ctd-decoder was built without the pkcs11js addon (see docs/pkcs11.md)');
  }
  let directory: string;
  try {
    directory = mkdtempSync(join(tmpdir(), 'ctd-decoder-pkcs11-'));
  } catch (error) {
    throw new BindingUnavailableError(`cannot unpack the addon into ${tmpdir()} (${errorCode(error)}); set TMPDIR to a writable directory`);
  }
  try {
    const path = join(directory, PKCS11_ADDON_ASSET);
    writeFileSync(path, new Uint8Array(addon), { flag: 'wx', mode: 0o500 });
    try {
      return dlopen(path);
    } catch (error) {
      throw new BindingUnavailableError(
        `cannot load the addon unpacked in ${tmpdir()} (${(error as Error).message.split('\n')[0]}); if it is mounted noexec, set TMPDIR to a directory that allows executables`,
      );
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function loadInstalledAddon(): Pkcs11jsExports {
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve(INSTALLED_ADDON);
  } catch {
    throw new BindingUnavailableError(`${INSTALLED_ADDON} is not built (run make)`);
  }
  return dlopen(path);
}

function dlopen(path: string): Pkcs11jsExports {
  const module = { exports: {} as Pkcs11jsExports };
  process.dlopen(module, path);
  return module.exports;
}
