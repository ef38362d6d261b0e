/**
 * What a JWE layer makes the decoder load, measured, not inferred:
 *
 *   node test/bench/loaded-modules.ts BUNDLE LAYER_DIR KEYS_DIR OUT_JSON
 *
 * BUNDLE is the decoder bundled without minification (packaging/build-binary.sh
 * with BUNDLE_ONLY=1 MINIFY=0): esbuild wraps every lazily imported module in
 * an init function named after the module's path, so V8's function log
 * (--log-function-events) names each module that was initialised: V8
 * compiles a function to bytecode when it is first called. The run
 * decrypts LAYER_DIR/blob.enc with LAYER_DIR/payload.bin on fd 3, as the
 * benchmark does. Node built-ins are compared with an empty `node -e 0`.
 * Writes {lazyModules, packages, builtins, forbidden} to OUT_JSON and exits 1
 * if anything of another key-wrap scheme was loaded.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Modules of the other key-wrap schemes: none of them may run for a JWE layer. */
const FORBIDDEN = [
  /^node_modules\/openpgp\//,
  /^node_modules\/pkcs11js\//,
  /^node_modules\/@grpc\//,
  /^src\/keywrap\/(pgp|pkcs7|key-provider)/,
  /^src\/keywrap\/pkcs11/,
  /^src\/platform\/key-provider/,
  /^node:(http2|tls|net|child_process|worker_threads)$/,
];

const [bundle, layerDir, keysDir, outJson] = process.argv.slice(2);
if (!bundle || !layerDir || !keysDir || !outJson) throw new Error('usage: loaded-modules.ts BUNDLE LAYER_DIR KEYS_DIR OUT_JSON');

interface FunctionLog {
  /** Node built-ins whose scripts were compiled, as node:name. */
  builtins: Set<string>;
  /** Names of every function that was compiled on first call or ran. */
  functions: Set<string>;
}

function runLogged(args: string[], stdio: (number | 'ignore' | 'inherit')[]): FunctionLog {
  const dir = mkdtempSync(join(tmpdir(), 'ctd-modules-'));
  try {
    const logfile = join(dir, 'v8.log');
    const run = spawnSync(process.execPath, ['--log-function-events', `--logfile=${logfile}`, '--no-logfile-per-isolate', ...args], { stdio });
    if (run.status !== 0) throw new Error(`${args.join(' ')} exited ${run.status}`);
    const log: FunctionLog = { builtins: new Set(), functions: new Set() };
    for (const line of readFileSync(logfile, 'utf8').split('\n')) {
      const fields = line.split(',');
      if (fields[0] === 'script-details' && fields[2]?.startsWith('node:')) {
        log.builtins.add(fields[2].replace(/^node:internal\/.*/, '')); // internals are Node's business
      } else if (fields[0] === 'function' && (fields[1] === 'interpreter' || fields[1]?.startsWith('first-execution'))) {
        log.functions.add(fields.slice(7).join(','));
      }
    }
    log.builtins.delete('');
    return log;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "../../work/main/node_modules/jose/dist/x.js" -> "node_modules/jose/dist/x.js"; "src/a.ts" stays. */
function modulePath(functionName: string): string | null {
  const match = /(?:^|\/)((?:node_modules|src)\/.+\.(?:[cm]?js|ts))$/.exec(functionName);
  return match ? match[1]! : null;
}

const empty = runLogged(['-e', '0'], ['ignore', 'ignore', 'inherit']);
const input = openSync(join(layerDir, 'blob.enc'), 'r');
const payload = openSync(join(layerDir, 'payload.bin'), 'r');
let decoder: FunctionLog;
try {
  decoder = runLogged([bundle, '--decryption-keys-path', keysDir], [input, 'ignore', 'inherit', payload]);
} finally {
  closeSync(input);
  closeSync(payload);
}

const lazyModules = [...decoder.functions].map(modulePath).filter((path): path is string => path !== null).sort();
const packages = [...new Set(lazyModules.filter((path) => path.startsWith('node_modules/')).map((path) => path.split('/')[1]!))].sort();
const builtins = [...decoder.builtins].filter((name) => !empty.builtins.has(name)).sort();
const forbidden = [...lazyModules, ...builtins].filter((name) => FORBIDDEN.some((pattern) => pattern.test(name)));

writeFileSync(outJson, JSON.stringify({ lazyModules, packages, builtins, forbidden }, null, 2) + '\n');
console.log(`loaded for a JWE layer: packages [${packages.join(', ')}], ${lazyModules.length} lazily initialised modules, built-ins beyond an empty start [${builtins.join(', ')}]`);
if (forbidden.length > 0) {
  console.log(`NOT JWE-only: ${forbidden.join(', ')}`);
  process.exitCode = 1;
}
