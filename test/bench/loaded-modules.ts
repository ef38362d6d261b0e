/**
 * For `make bench`: what a JWE layer makes the decoder load (test/support/loaded-modules.ts):
 *
 *   node test/bench/loaded-modules.ts BUNDLE LAYER_DIR KEYS_DIR OUT_JSON
 *
 * decrypts LAYER_DIR/blob.enc with LAYER_DIR/payload.bin on fd 3, writes
 * {modules, packages, builtins, forbidden} to OUT_JSON and exits 1 if
 * anything of another key-wrap scheme or an operator command was loaded.
 * test/binary/hot-path-loading.test.ts checks the same in `make test`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadedModules, notForJwe } from '../support/loaded-modules.ts';

const [bundle, layerDir, keysDir, outJson] = process.argv.slice(2);
if (!bundle || !layerDir || !keysDir || !outJson) throw new Error('usage: loaded-modules.ts BUNDLE LAYER_DIR KEYS_DIR OUT_JSON');

const loaded = loadedModules(process.execPath, bundle, ['--decryption-keys-path', keysDir], join(layerDir, 'blob.enc'), join(layerDir, 'payload.bin'));
const forbidden = notForJwe(loaded);
writeFileSync(outJson, JSON.stringify({ ...loaded, forbidden }, null, 2) + '\n');
console.log(
  `loaded for a JWE layer: packages [${loaded.packages.join(', ')}], ${loaded.modules.length} lazily initialised modules, built-ins beyond an empty start [${loaded.builtins.join(', ')}]`,
);
if (forbidden.length > 0) {
  console.log(`NOT JWE-only: ${forbidden.join(', ')}`);
  process.exitCode = 1;
}
