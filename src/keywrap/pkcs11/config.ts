import { isMapping, parseYaml, YamlError, type YamlValue } from '../../encoding/yaml.ts';
import { asStringList } from '../../encoding/string-list.ts';

/**
 * Which PKCS#11 modules may be loaded, as ocicrypt configures it: a YAML
 * `pkcs11: {module-directories: [...], allowed-module-paths: [...]}` in the
 * file named by OCICRYPT_CONFIG ("internal" = built-in defaults), else in
 * $XDG_CONFIG_HOME/ocicrypt.conf, ~/.config/ocicrypt.conf, /etc/ocicrypt.conf;
 * failing those, the payload's `pkcs11-config` (the same two lists without
 * the `pkcs11:` level, as the client marshalled them). With none, no module
 * may be loaded (Pkcs11ConfigError).
 */
export interface ModulePolicy {
  /** Where the policy came from, for messages. */
  source: string;
  /** Searched, in order, for a URI's module-name. */
  moduleDirectories: readonly string[];
  /** Files, or directories ending in "/" whose direct entries, a module may be. */
  allowedModulePaths: readonly string[];
}

export const OCICRYPT_CONFIG_VARIABLE = 'OCICRYPT_CONFIG';
const INTERNAL = 'internal';
const CONFIG_FILE_NAME = 'ocicrypt.conf';

/** What the platform found at the node's config locations. */
export type LocalConfig =
  | { kind: 'internal' }
  | { kind: 'file'; path: string; text: string }
  | { kind: 'unreadable'; path: string; reason: string }
  | { kind: 'none'; searched: readonly string[] };

export class Pkcs11ConfigError extends Error {}

/** The config files to try, in order (the first that exists is used). */
export function configFileLocations(env: Readonly<Record<string, string | undefined>>): string[] {
  const locations: string[] = [];
  const named = env[OCICRYPT_CONFIG_VARIABLE];
  if (named) locations.push(named);
  if (env['XDG_CONFIG_HOME']) locations.push(`${env['XDG_CONFIG_HOME']}/${CONFIG_FILE_NAME}`);
  if (env['HOME']) locations.push(`${env['HOME']}/.config/${CONFIG_FILE_NAME}`);
  locations.push(`/etc/${CONFIG_FILE_NAME}`);
  return locations;
}

export function usesInternalConfig(env: Readonly<Record<string, string | undefined>>): boolean {
  return env[OCICRYPT_CONFIG_VARIABLE] === INTERNAL;
}

/** Debian's multiarch triplet prefix per Node arch: ocicrypt adds /usr/lib/<triplet>/ to its defaults. */
const MULTIARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  arm: 'arm',
  ppc64: 'powerpc64le',
  riscv64: 'riscv64',
  s390x: 's390x',
};

/** ocicrypt's built-in module directories (Fedora/RHEL/openSUSE, Arch, /usr/local, Debian/Ubuntu). */
export function defaultModuleDirectories(arch: string): string[] {
  const directories = ['/usr/lib64/pkcs11/', '/usr/lib/pkcs11/', '/usr/local/lib/pkcs11/', '/usr/lib/softhsm/'];
  const triplet = MULTIARCH[arch];
  if (triplet !== undefined) directories.push(`/usr/lib/${triplet}-linux-gnu/`);
  return directories;
}

/** The policy the decoder applies: the node's own config first, then the payload's, else nothing allowed. */
export function chooseModulePolicy(local: LocalConfig, payloadConfig: Buffer | null, arch: string): ModulePolicy {
  switch (local.kind) {
    case 'internal': {
      const directories = defaultModuleDirectories(arch);
      return { source: `${OCICRYPT_CONFIG_VARIABLE}=internal (built-in defaults)`, moduleDirectories: directories, allowedModulePaths: directories };
    }
    case 'file':
      return parseModulePolicy(local.text, local.path);
    case 'unreadable':
      throw new Pkcs11ConfigError(`cannot read the ocicrypt config ${local.path} (${local.reason})`);
    case 'none':
      if (payloadConfig !== null) return parseModulePolicy(payloadConfig.toString('utf8'), "the payload's pkcs11-config");
      throw new Pkcs11ConfigError(
        `no ocicrypt config found (looked for ${local.searched.join(', ')}), so no module may be loaded: ` +
          `set ${OCICRYPT_CONFIG_VARIABLE}=internal for the built-in module directories, or write one`,
      );
  }
}

/**
 * Reads the two lists from a `pkcs11:` section or, failing that, from the top
 * level (the payload's form; ocicrypt itself would ignore top-level lists in a
 * config file, which only ever left users with nothing allowed).
 */
export function parseModulePolicy(text: string, source: string): ModulePolicy {
  let root: YamlValue;
  try {
    root = parseYaml(text);
  } catch (error) {
    if (error instanceof YamlError) throw new Pkcs11ConfigError(`${source} is not readable YAML (${error.message})`);
    throw error;
  }
  if (root !== null && !isMapping(root)) throw new Pkcs11ConfigError(`${source} is not a YAML mapping`);
  const nested = root?.get('pkcs11');
  if (nested !== undefined && nested !== null && !isMapping(nested)) throw new Pkcs11ConfigError(`${source}: pkcs11 must be a mapping`);
  const section = nested ?? root;
  return {
    source,
    moduleDirectories: stringList(section?.get('module-directories'), 'module-directories', source),
    allowedModulePaths: stringList(section?.get('allowed-module-paths'), 'allowed-module-paths', source),
  };
}

function stringList(value: YamlValue | undefined, name: string, source: string): string[] {
  return asStringList(value, () => {
    throw new Pkcs11ConfigError(`${source}: ${name} must be a list of paths`);
  });
}
