/**
 * What the decoder loads for one layer, measured, not inferred: the
 * statically imported modules (from esbuild's metafile: they run at every
 * start) and the lazily initialised ones (observed at run time). Used by
 * test/binary/hot-path-modules.test.ts and `make bench`.
 *
 * The bundle is the decoder bundled without minification
 * (packaging/build-binary.sh with BUNDLE_ONLY=1 MINIFY=0): esbuild wraps
 * every lazily imported module in an init function named after the module's
 * path, so V8's function log (--log-function-events) names each module that
 * was initialised: V8 compiles a function to bytecode when it is first
 * called. Node built-ins are compared with an empty `node -e 0`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

/** Never part of a JWE decode, whether imported statically or loaded at run time. */
export const NOT_FOR_JWE: readonly RegExp[] = [
  // The subcommand table is read at every start; the commands are dynamic imports.
  /^src\/operator\/(?!subcommands\.ts$)/,
  /^node_modules\/(openpgp|pkcs11js|smol-toml|@grpc)\//,
  /^src\/keywrap\/(pgp|pkcs7|pkcs11|key-provider)/,
  /^src\/platform\/(key-provider|pkcs11)/,
  /^node:(http2|tls|net|child_process|worker_threads)$/,
];

export interface AnalysisBundle {
  bundle: string;
  metafile: string;
}

/** Bundles src/main.ts as the release build does, unminified, with its metafile, into BUILD_DIR. */
export function bundleForAnalysis(buildDir: string): AnalysisBundle {
  const run = spawnSync('bash', ['packaging/build-binary.sh'], {
    cwd: REPO_ROOT,
    env: { ...process.env, BUNDLE_ONLY: '1', MINIFY: '0', BUILD_DIR: buildDir },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`packaging/build-binary.sh exited ${run.status}: ${run.stderr}`);
  return { bundle: join(buildDir, 'ctd-decoder.cjs'), metafile: join(buildDir, 'ctd-decoder.meta.json') };
}

interface Metafile {
  inputs: Record<string, { imports: { path: string; kind: string }[] }>;
}

/** Every module `import` statements reach from src/main.ts (dynamic `import()` not followed): what every start evaluates. */
export function staticModules(metafile: string): string[] {
  const { inputs } = JSON.parse(readFileSync(metafile, 'utf8')) as Metafile;
  const seen = new Set<string>();
  const pending = ['src/main.ts'];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    for (const imported of inputs[path]?.imports ?? []) if (imported.kind === 'import-statement') pending.push(imported.path);
  }
  return [...seen].sort();
}

export interface ObservedDecode {
  /** Modules whose init function ran, as src/… or node_modules/… paths. */
  lazyModules: string[];
  /** npm packages among them. */
  packages: string[];
  /** Node built-ins loaded beyond an empty `node -e 0`. */
  builtins: string[];
}

interface FunctionLog {
  /** Node built-ins whose scripts were compiled, as node:name. */
  builtins: Set<string>;
  /** Names of every function that was compiled on first call or ran. */
  functions: Set<string>;
}

function runLogged(args: string[], stdio: (number | 'ignore' | 'inherit' | 'pipe')[]): FunctionLog {
  const dir = mkdtempSync(join(tmpdir(), 'ctd-modules-'));
  try {
    const logfile = join(dir, 'v8.log');
    const run = spawnSync(process.execPath, ['--log-function-events', `--logfile=${logfile}`, '--no-logfile-per-isolate', ...args], { stdio, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${args.join(' ')} exited ${run.status}: ${run.stderr ?? ''}`);
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

/** Runs BUNDLE on LAYER_DIR/blob.enc with LAYER_DIR/payload.bin on fd 3, as containerd does; throws unless it decodes. */
export function observeDecode(bundle: string, layerDir: string, keysDir: string): ObservedDecode {
  const empty = runLogged(['-e', '0'], ['ignore', 'ignore', 'inherit']);
  const input = openSync(join(layerDir, 'blob.enc'), 'r');
  const payload = openSync(join(layerDir, 'payload.bin'), 'r');
  let decoder: FunctionLog;
  try {
    decoder = runLogged([bundle, '--decryption-keys-path', keysDir], [input, 'ignore', 'pipe', payload]);
  } finally {
    closeSync(input);
    closeSync(payload);
  }
  const lazyModules = [...decoder.functions].map(modulePath).filter((path): path is string => path !== null).sort();
  return {
    lazyModules,
    packages: [...new Set(lazyModules.filter((path) => path.startsWith('node_modules/')).map((path) => path.split('/')[1]!))].sort(),
    builtins: [...decoder.builtins].filter((name) => !empty.builtins.has(name)).sort(),
  };
}

export function notForJwe(names: readonly string[]): string[] {
  return names.filter((name) => NOT_FOR_JWE.some((pattern) => pattern.test(name)));
}
