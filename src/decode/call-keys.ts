import { assembleDecryptionKeys, type DecryptionKeys } from '../keys/decryption-keys.ts';
import type { DecryptParameters } from '../payload/payload.ts';
import { readKeysDirectory } from '../platform/keys-directory.ts';

/** The keys one call may use: the --decryption-keys-path directory's, and any the payload carries. */
export function keysForCall(keysDirectory: string | null, parameters: DecryptParameters): DecryptionKeys {
  const directory = keysDirectory === null ? null : readKeysDirectory(keysDirectory);
  const keys = assembleDecryptionKeys(directory?.files ?? [], parameters);
  if (directory?.missing) keys.unusable.unshift({ origin: keysDirectory!, reason: 'directory does not exist' });
  for (const skipped of directory?.skipped ?? []) keys.unusable.push({ origin: skipped.path, reason: skipped.reason });
  return keys;
}
