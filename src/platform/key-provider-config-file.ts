import { KEYPROVIDER_CONFIG_VARIABLE, KEYPROVIDER_TIMEOUT_VARIABLE, type KeyProviderConfigFile } from '../keywrap/key-provider/config.ts';
import { describeSmallFileFailure, readSmallRegularFile } from './small-file.ts';

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
  const read = readSmallRegularFile(path, MAX_CONFIG_BYTES);
  if (read.ok) return { state: 'read', path, text: read.bytes.toString('utf8') };
  return read.failure === 'missing' ? { state: 'missing', path } : { state: 'unreadable', path, reason: describeSmallFileFailure(read) };
}

export function readKeyProviderTimeoutSetting(): string | undefined {
  return process.env[KEYPROVIDER_TIMEOUT_VARIABLE];
}
