import type { LocalConfig } from './config.ts';
import type { ModuleFiles } from './module-lookup.ts';
import type { Pkcs11Binding } from './token.ts';

/**
 * What the PKCS#11 scheme needs from the machine: configuration, files,
 * environment variables and the native binding. src/platform/pkcs11-host.ts
 * is the real one; tests pass their own.
 */
export interface Pkcs11Host {
  /** The node's own ocicrypt config: OCICRYPT_CONFIG, then the documented files. */
  localConfig(): LocalConfig;
  /** Node's process.arch, for ocicrypt's default module directories. */
  readonly arch: string;
  readonly moduleFiles: ModuleFiles;
  /** A pin-source file's contents; throws PinSourceError. */
  readPinFile(path: string): Buffer;
  /** The PKCS#11 binding, loaded on first use; throws BindingUnavailableError. */
  binding(): Pkcs11Binding;
  /** Runs `call` with `variables` set in the process environment, and restores it afterwards. */
  withEnvironment<T>(variables: ReadonlyMap<string, string>, call: () => T): T;
}

export class BindingUnavailableError extends Error {}

export class PinSourceError extends Error {}
