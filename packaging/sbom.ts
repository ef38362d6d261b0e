// Prints the CycloneDX 1.6 SBOM of one release binary (build-binary.sh
// writes it next to the binary; the packages ship it):
//   node packaging/sbom.ts ARCH BINARY ADDON METAFILE...
// Components: every npm package esbuild bundled (from its metafiles), the
// pkcs11js N-API addon, and the Node runtime; versions, licences and sha512
// from package-lock.json. The bundles must hold exactly package.json's
// runtime dependencies (besides pkcs11js, which is the addon), or this fails:
// the notices and `--version --verbose` list those.
// Reproducible: the timestamp is SOURCE_DATE_EPOCH and the serial number is
// derived from the binary's hash.
//
// Why not @cyclonedx/cyclonedx-npm: it describes the installed npm tree (from
// `npm ls`), not what esbuild put into the binary, and knows neither the Node
// runtime nor the compiled addon; its output would need rewriting anyway.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bundledPackageNames, nodeRuntime, runtimeDependencies, type LockedPackage } from './release-inventory.ts';

const [arch, binary, addon, ...metafiles] = process.argv.slice(2);
if (arch === undefined || binary === undefined || addon === undefined || metafiles.length === 0) {
  throw new Error('usage: sbom.ts ARCH BINARY ADDON METAFILE...');
}
const ADDON_PACKAGE = 'pkcs11js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
/** npm's "sha512-<base64>" as CycloneDX's hex hash. */
const sha512Hex = (integrity: string) => Buffer.from(integrity.replace(/^sha512-/, ''), 'base64').toString('hex');
const purl = (pkg: LockedPackage) => `pkg:npm/${pkg.name.replace(/^@/, '%40')}@${pkg.version}`;
const licenses = (expression: string) => (/^[\w.+-]+$/.test(expression) ? [{ license: { id: expression } }] : [{ expression }]);

const dependencies = runtimeDependencies();
const bundled = bundledPackageNames(metafiles);
const expected = dependencies.map((pkg) => pkg.name).filter((name) => name !== ADDON_PACKAGE);
if (bundled.join() !== expected.join()) {
  throw new Error(`the bundles hold [${bundled.join(', ')}], package.json's runtime dependencies are [${expected.join(', ')}] (+ ${ADDON_PACKAGE}): make them agree`);
}

const npmComponent = (pkg: LockedPackage, type: string, embeddedAs: string) => ({
  type,
  'bom-ref': purl(pkg),
  name: pkg.name,
  version: pkg.version,
  licenses: licenses(pkg.license),
  purl: purl(pkg),
  hashes: [{ alg: 'SHA-512', content: sha512Hex(pkg.integrity) }],
  externalReferences: [{ type: 'distribution', url: pkg.resolved }],
  properties: [{ name: 'ctd-decoder:embedded-as', value: embeddedAs }],
});

const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;
const binaryHash = sha256(binary);
const runtime = nodeRuntime(arch);
const components = [
  ...dependencies.map((pkg) =>
    pkg.name === ADDON_PACKAGE
      ? npmComponent(pkg, 'library', `N-API addon compiled from the package's C++ sources for linux-${arch} (embedded pkcs11.node SHA-256 ${sha256(addon)})`)
      : npmComponent(pkg, 'library', 'JavaScript bundled by esbuild'),
  ),
  { ...npmComponent(runtime, 'platform', `the executable's runtime: node ${runtime.version} from the npm package ${runtime.name}`), name: 'node' },
];
const epoch = Number(process.env['SOURCE_DATE_EPOCH'] ?? 0);
/** An RFC 4122 UUID (version 4 layout) from the binary's hash: one binary, one serial number. */
function serialNumber(hash: string): string {
  const hex = [...hash.slice(0, 32)];
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return hex.join('').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
}
const sbom = {
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  serialNumber: `urn:uuid:${serialNumber(binaryHash)}`,
  version: 1,
  metadata: {
    timestamp: new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z'),
    tools: { components: [{ type: 'application', name: 'ctd-decoder packaging/sbom.ts', version }] },
    component: {
      type: 'application',
      'bom-ref': 'ctd-decoder',
      name: 'ctd-decoder',
      version,
      licenses: licenses('Apache-2.0'),
      hashes: [{ alg: 'SHA-256', content: binaryHash }],
      properties: [{ name: 'ctd-decoder:platform', value: `linux-${arch}` }],
    },
  },
  components,
  dependencies: [{ ref: 'ctd-decoder', dependsOn: components.map((component) => component['bom-ref']) }],
};
process.stdout.write(JSON.stringify(sbom, null, 2) + '\n');
