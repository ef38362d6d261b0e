/**
 * What a JWE layer makes the decoder load (test/support/loaded-modules.ts),
 * for `make bench`'s report:
 *
 *   node test/bench/loaded-modules.ts BUNDLE LAYER_DIR KEYS_DIR OUT_JSON
 *
 * BUNDLE is packaging/build-binary.sh's output with BUNDLE_ONLY=1 MINIFY=0
 * (its metafile beside it). Writes {staticModules, lazyModules, packages,
 * builtins, forbidden} to OUT_JSON and exits 1 if anything not for a JWE
 * layer was loaded. test/binary/hot-path-modules.test.ts checks the same in
 * `make test`.
 */
import { writeFileSync } from 'node:fs';
import { notForJwe, observeDecode, staticModules } from '../support/loaded-modules.ts';

const [bundle, layerDir, keysDir, outJson] = process.argv.slice(2);
if (!bundle || !layerDir || !keysDir || !outJson) throw new Error('usage: loaded-modules.ts BUNDLE LAYER_DIR KEYS_DIR OUT_JSON');

const statics = staticModules(bundle.replace(/\.cjs$/, '.meta.json'));
const { lazyModules, packages, builtins } = observeDecode(bundle, layerDir, keysDir);
const forbidden = notForJwe([...statics, ...lazyModules, ...builtins]);

writeFileSync(outJson, JSON.stringify({ staticModules: statics, lazyModules, packages, builtins, forbidden }, null, 2) + '\n');
console.log(
  `loaded for a JWE layer: packages [${packages.join(', ')}], ${statics.length} modules at start, ${lazyModules.length} lazily initialised, ` +
    `built-ins beyond an empty start [${builtins.join(', ')}]`,
);
if (forbidden.length > 0) {
  console.log(`NOT JWE-only: ${forbidden.join(', ')}`);
  process.exitCode = 1;
}
