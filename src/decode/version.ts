declare const CTD_DECODER_VERSION: string | undefined;
declare const CTD_DECODER_BUILD_INFO: BuildInfo | undefined;

/** What packaging/build-info.ts embeds at build time: the packages bundled into the binary. */
interface BuildInfo {
  arch: string;
  packages: { name: string; version: string; license: string }[];
}

/** Set by the bundler from package.json; "dev" when run from source. */
export const VERSION = typeof CTD_DECODER_VERSION === 'string' ? CTD_DECODER_VERSION : 'dev';

/** Packages that are native code in the binary rather than bundled JavaScript. */
const NATIVE_ADDONS = new Set(['pkcs11js']);

/** `--version --verbose`: the version, the Node runtime, and each bundled package with its licence. */
export function verboseVersionText(): string {
  const lines = [`ctd-decoder ${VERSION}`, `node ${process.versions.node} linux-${process.arch} MIT (the runtime)`];
  if (typeof CTD_DECODER_BUILD_INFO === 'object') {
    for (const { name, version, license } of CTD_DECODER_BUILD_INFO.packages) {
      lines.push(`${name} ${version} ${license}${NATIVE_ADDONS.has(name) ? ' (N-API addon)' : ''}`);
    }
  } else {
    lines.push('(run from source: the packages are those in node_modules)');
  }
  return lines.join('\n') + '\n';
}
