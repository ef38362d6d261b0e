import { assembleDecryptionKeys, type DecryptionKeys } from '../keys/decryption-keys.ts';
import type { DecryptParameters } from '../payload/payload.ts';
import { readKeysDirectory, type KeysDirectoryContents } from '../platform/keys-directory.ts';

/** The keys one call may use: the --decryption-keys-path directory's, and any the payload carries. */
export function keysForCall(keysDirectory: string | null, parameters: DecryptParameters): DecryptionKeys {
  if (keysDirectory === null) return assembleDecryptionKeys([], parameters);
  return keysWithDirectory(keysDirectory, readKeysDirectory(keysDirectory), parameters);
}

/** A keys directory as read, and the payload's keys; a missing directory and every file the walk skipped are listed as unusable. */
export function keysWithDirectory(root: string, directory: KeysDirectoryContents, parameters: DecryptParameters): DecryptionKeys {
  const keys = assembleDecryptionKeys(directory.files, parameters);
  if (directory.missing) keys.unusable.unshift({ origin: root, reason: 'directory does not exist' });
  for (const skipped of directory.skipped) keys.unusable.push({ origin: skipped.path, reason: skipped.reason });
  return keys;
}
