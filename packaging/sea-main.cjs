'use strict';
// The single executable's entry point (packaging/build-binary.sh makes it the
// SEA main): runs the decoder bundle, which rides along as SEA assets.
//
// Why not make the bundle the SEA main directly: Node builds the SEA code
// cache by compiling the main script without running it, so it holds only
// top-level code, and V8 compiled every function a decode runs on every
// start (~2 ms of a ~30 ms start). The cache here is made by
// packaging/code-cache.cjs after a warm-up decode of a JWE layer, so the
// decode path starts compiled. openpgp (two thirds of the bundled code) is a
// separate asset, compiled only when an OpenPGP layer needs it: a smaller
// main script is a cheaper cache to load.
const { getRawAsset } = require('node:sea');
const { Script } = require('node:vm');

/** Runs an embedded bundle (build-binary.sh wraps each in a CommonJS-style function) and returns its exports. */
function runBundle(name) {
  // The bundles are ASCII (code-cache.cjs checks at build time): latin1 reads them exactly, with a plain copy.
  const source = Buffer.from(getRawAsset(`${name}.js`)).toString('latin1');
  const cachedData = Buffer.from(getRawAsset(`${name}.code-cache`));
  // A rejected cache (not expected: same runtime, same V8 flags) only costs time: V8 compiles the source.
  const wrapper = new Script(source, { filename: `${name}.js`, cachedData }).runInThisContext();
  const bundleModule = { exports: {} };
  wrapper(bundleModule.exports, bundleRequire, bundleModule, __filename, __dirname);
  return bundleModule.exports;
}

let openpgp;
/** The bundles require Node built-ins, and the decoder requires openpgp (bundled apart). */
function bundleRequire(id) {
  if (id !== 'openpgp') return require(id);
  openpgp ??= runBundle('openpgp');
  return openpgp;
}

// `--version` alone is answered here, before the decoder bundle is compiled
// (its code cache deserialised): the runtime's own start is all it costs.
// build-binary.sh puts the same line main.ts would print in an asset.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  process.stdout.write(Buffer.from(getRawAsset('version.txt')).toString('latin1'));
} else {
  runBundle('ctd-decoder');
}
