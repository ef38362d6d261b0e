/**
 * What one decode makes the decoder load at run time, measured, not inferred
 * (used by test/binary/hot-path-loading.test.ts and test/bench/loaded-modules.ts).
 *
 * BUNDLE is the decoder bundled without minification (packaging/build-binary.sh
 * with BUNDLE_ONLY=1 MINIFY=0: the same code as the binary's): esbuild wraps
 * every lazily imported module in an init function named after the module's
 * path, so V8's function log (--log-function-events) names each module that
 * was initialised (V8 compiles a function when it is first called). Node
 * built-ins are compared with an empty `node -e 0`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a JWE layer must never load: other key-wrap schemes, network clients, operator commands. */
export const NOT_FOR_JWE = [
  /^node_modules\/openpgp\//,
  /^node_modules\/pkcs11js\//,
  /^node_modules\/@grpc\//,
  /^src\/keywrap\/(pgp|pkcs7|key-provider)/,
  // Except the PKCS#11 key-file reader (pure, no imports beyond its URI and YAML
  // readers): key classification uses it, so its modules are initialised, but it
  // only runs for a file that mentions pkcs11.
  /^src\/keywrap\/pkcs11(?!\/(?:key-file|uri|yaml)\.ts$)/,
  /^src\/platform\/(key-provider|pkcs11)/,
  // Operator commands (keys, inspect, decrypt, doctor) and OCI image / containerd config reading.
  /^src\/(operator|oci|containerd|doctor|cli\/commands)\//,
  /^src\/(decrypt|inspect)-image\.ts$/,
  /^node:(http2|tls|net|child_process|worker_threads)$/,
];

export interface LoadedModules {
  /** Bundled modules (src/..., node_modules/...) whose code ran. */
  modules: string[];
  /** npm packages among them. */
  packages: string[];
  /** Node built-ins loaded beyond an empty start, as node:name. */
  builtins: string[];
}

interface FunctionLog {
  /** Node built-ins whose scripts were compiled, as node:name. */
  builtins: Set<string>;
  /** Names of the functions compiled on first call or run, and paths of the files compiled. */
  functions: Set<string>;
}

function runLogged(node: string, args: string[], stdio: (number | 'ignore' | 'inherit')[]): FunctionLog {
  const dir = mkdtempSync(join(tmpdir(), 'ctd-modules-'));
  try {
    const logfile = join(dir, 'v8.log');
    const run = spawnSync(node, ['--log-function-events', `--logfile=${logfile}`, '--no-logfile-per-isolate', ...args], { stdio });
    if (run.status !== 0) throw new Error(`${args.join(' ')} exited ${run.status}`);
    const log: FunctionLog = { builtins: new Set(), functions: new Set() };
    for (const line of readFileSync(logfile, 'utf8').split('\n')) {
      const fields = line.split(',');
      if (fields[0] === 'script-details' && fields[2]?.startsWith('node:')) {
        log.builtins.add(fields[2].replace(/^node:internal\/.*/, '')); // internals are Node's business
      } else if (fields[0] === 'script-details' && fields[2]) {
        log.functions.add(fields[2]); // a file required at run time (openpgp, bundled apart): its path
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

/** Runs BUNDLE on NODE as containerd runs the decoder: `blob` on stdin, `payload` (a file) on fd 3, ARGS. */
export function loadedModules(node: string, bundle: string, args: string[], blob: string, payload: string): LoadedModules {
  const empty = runLogged(node, ['-e', '0'], ['ignore', 'ignore', 'inherit']);
  const input = openSync(blob, 'r');
  const payloadFd = openSync(payload, 'r');
  let decoder: FunctionLog;
  try {
    decoder = runLogged(node, [bundle, ...args], [input, 'ignore', 'inherit', payloadFd]);
  } finally {
    closeSync(input);
    closeSync(payloadFd);
  }
  const modules = [...decoder.functions].map(modulePath).filter((path): path is string => path !== null).sort();
  return {
    modules,
    packages: [...new Set(modules.filter((path) => path.startsWith('node_modules/')).map((path) => path.split('/')[1]!))].sort(),
    builtins: [...decoder.builtins].filter((name) => !empty.builtins.has(name)).sort(),
  };
}

/** What of `loaded` a JWE layer must not load. */
export function notForJwe(loaded: LoadedModules): string[] {
  return [...loaded.modules, ...loaded.builtins].filter((name) => NOT_FOR_JWE.some((pattern) => pattern.test(name)));
}
