import type { KeyCandidate } from './inspect-image.ts';
import { takeKeyInventory, type KeyInventoryEntry } from './key-inventory.ts';
import { registeredSchemes } from '../decode/scheme-registry.ts';
import { readKeysDirectory } from '../platform/keys-directory.ts';

/** A keys directory as the decoder sees it; `missing` when it does not exist. Throws KeysDirectoryError when unreadable. */
export async function localKeyInventory(directory: string): Promise<{ entries: KeyInventoryEntry[]; missing: boolean }> {
  const contents = readKeysDirectory(directory);
  if (contents.missing) return { entries: [], missing: true };
  return { entries: await takeKeyInventory(contents, registeredSchemes()), missing: false };
}

/** The usable keys, each to be tried alone; origins relative to the directory, as operators name the files. */
export function keyCandidates(entries: readonly KeyInventoryEntry[], directory: string): KeyCandidate[] {
  return entries.flatMap((entry) =>
    entry.role === 'key' && entry.keys !== null ? [{ origin: relativeTo(directory, entry.path), schemes: entry.schemes, keys: entry.keys }] : [],
  );
}

export function relativeTo(directory: string, path: string): string {
  const prefix = directory.endsWith('/') ? directory : `${directory}/`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}
