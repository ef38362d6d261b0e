import { readFileSync, statSync } from 'node:fs';
import { KEYPROVIDER_CONFIG_VARIABLE, KEYPROVIDER_TIMEOUT_VARIABLE, type KeyProviderConfigFile } from '../keywrap/key-provider/config.ts';

/** Config files are a few hundred bytes; this only stops a wrong path from being read whole. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The file OCICRYPT_KEYPROVIDER_CONFIG names, read when a layer needs a key
 * provider (never at start-up). An unset or empty variable, or a file that
 * does not exist, is not an error: containerd's default configuration sets
 * the variable whether or not the file exists.
 */
export function readKeyProviderConfigFile(): KeyProviderConfigFile {
  const path = process.env[KEYPROVIDER_CONFIG_VARIABLE];
  if (path === undefined || path === '') return { state: 'unset' };
  try {
    const stats = statSync(path);
    if (!stats.isFile()) return { state: 'unreadable', path, reason: 'not a regular file' };
    if (stats.size > MAX_CONFIG_BYTES) return { state: 'unreadable', path, reason: `larger than ${MAX_CONFIG_BYTES} bytes` };
    return { state: 'read', path, text: readFileSync(path, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { state: 'missing', path } : { state: 'unreadable', path, reason: code ?? 'error' };
  }
}

export function readKeyProviderTimeoutSetting(): string | undefined {
  return process.env[KEYPROVIDER_TIMEOUT_VARIABLE];
}
