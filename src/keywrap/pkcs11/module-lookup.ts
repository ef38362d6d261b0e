import { quoteUntrusted } from '../../encoding/untrusted-text.ts';
import type { ModulePolicy } from './config.ts';
import type { Pkcs11Uri } from '../../keys/pkcs11-uri.ts';

/** The filesystem as module lookup needs it (the platform implements it). */
export interface ModuleFiles {
  /** What `path` is, following symlinks. */
  kind(path: string): 'file' | 'directory' | 'other' | 'missing';
  /** The entry names of a directory, sorted; null when it cannot be read. */
  list(directory: string): string[] | null;
}

export class ModuleLookupError extends Error {}

/**
 * The module file a URI names, as ocicrypt finds it: module-path when it is a
 * file; otherwise the first entry of module-path (a directory) or of the
 * policy's module-directories whose lower-cased name contains module-name
 * followed by nothing or a dot (so "softhsm" finds libsofthsm.so but not
 * libsofthsm2.so). The file found must be allowed by the policy; a disallowed
 * first match is an error, not a reason to keep looking.
 */
export function findModule(uri: Pkcs11Uri, policy: ModulePolicy, files: ModuleFiles): string {
  let directories = policy.moduleDirectories;
  if (uri.modulePath !== null) {
    const kind = files.kind(uri.modulePath);
    if (kind === 'missing') throw new ModuleLookupError(`module-path ${quoteUntrusted(uri.modulePath, 200)} does not exist`);
    if (kind === 'file') return allowed(uri.modulePath, policy);
    if (kind !== 'directory') throw new ModuleLookupError(`module-path ${quoteUntrusted(uri.modulePath, 200)} is neither a file nor a directory`);
    directories = [uri.modulePath];
  }
  if (uri.moduleName === null) throw new ModuleLookupError('the URI has neither module-name nor module-path');
  const name = uri.moduleName.toLowerCase();
  for (const directory of directories) {
    for (const entry of files.list(directory) ?? []) {
      const lower = entry.toLowerCase();
      const at = lower.indexOf(name);
      if (at === -1) continue;
      const after = lower[at + name.length];
      if (after === undefined || after === '.') return allowed(joinPath(directory, entry), policy);
    }
  }
  const searched = directories.length > 0 ? directories.map((directory) => quoteUntrusted(directory, 200)).join(', ') : 'no module-directories';
  throw new ModuleLookupError(`no module named ${quoteUntrusted(uri.moduleName)} in ${searched} (policy: ${policy.source})`);
}

function allowed(path: string, policy: ModulePolicy): string {
  if (isAllowedModule(path, policy.allowedModulePaths)) return path;
  throw new ModuleLookupError(`module ${quoteUntrusted(path, 200)} is outside allowed-module-paths (policy: ${policy.source})`);
}

/** An exact entry, or an entry ending in "/" of which the path is a direct child. */
export function isAllowedModule(path: string, allowedPaths: readonly string[]): boolean {
  return allowedPaths.some((entry) => {
    if (entry === path) return true;
    return entry.endsWith('/') && path.startsWith(entry) && !path.slice(entry.length).includes('/');
  });
}

function joinPath(directory: string, entry: string): string {
  return directory.endsWith('/') ? directory + entry : `${directory}/${entry}`;
}
