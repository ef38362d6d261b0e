/**
 * The import directions of docs/architecture.md, enforced (run by `make typecheck`):
 *
 *   node test/tools/check-imports.ts [ROOT]
 *
 * Reads every .ts file under ROOT/src (default: the repository) and
 * ROOT/packaging, and exits 1 listing each import that goes against the
 * table below, each cycle between src/ folders, each system built-in or
 * `process` a pure format uses, and each packaging import of test code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** A top-level folder of src/ (or a root file) and the others its files may import: docs/architecture.md's table. */
export const ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  'main.ts': ['decode', 'operator', 'platform'],
  operator: ['decode', 'platform', 'keywrap', 'keys', 'payload', 'blockcipher', 'encoding', 'errors.ts', 'limits.ts'],
  decode: ['platform', 'keywrap', 'keys', 'payload', 'blockcipher', 'encoding', 'errors.ts', 'limits.ts'],
  platform: ['keywrap', 'keys', 'payload', 'blockcipher', 'encoding', 'errors.ts', 'limits.ts'],
  keywrap: ['keys', 'payload', 'encoding', 'errors.ts', 'limits.ts'],
  keys: ['payload', 'encoding', 'errors.ts', 'limits.ts'],
  payload: ['encoding', 'errors.ts', 'limits.ts'],
  blockcipher: ['encoding', 'errors.ts', 'limits.ts'],
  encoding: ['errors.ts', 'limits.ts'],
  'errors.ts': [],
  'limits.ts': [],
};

/** Formats: bytes and values in, values out. The system is platform/'s business. */
const PURE_FORMATS = new Set(['payload', 'keys', 'keywrap', 'blockcipher', 'encoding']);
const SYSTEM_BUILTINS = /^node:(fs|fs\/promises|child_process|net|tls|http2|dgram|os|module|sea|worker_threads|cluster|process)$/;

function typeScriptFiles(directory: string): string[] {
  let entries;
  try {
    entries = readdirSync(directory, { withFileTypes: true, recursive: true });
  } catch {
    return [];
  }
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => join(entry.parentPath, entry.name));
}

/** The specifiers of a source's static and dynamic imports and re-exports, as TypeScript reads them (comments and strings are not imports). */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((imported) => imported.fileName);
}

/** Whether the file's source reads the global `process` (process.env, process.argv, …); comments do not count. */
function usesProcess(file: string, text: string): boolean {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest);
  const visit = (node: ts.Node): boolean =>
    (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'process') || ts.forEachChild(node, visit) === true;
  return visit(source);
}

/** "decode/x.ts" -> "decode"; "main.ts" -> "main.ts". */
function unitOf(pathInSrc: string): string {
  const [first] = pathInSrc.split('/');
  return first!;
}

/** Every violation, one line each; empty when the tree keeps to the table. */
export function checkImports(root: string): string[] {
  const src = join(root, 'src');
  const problems: string[] = [];
  const edges = new Map<string, Set<string>>();
  for (const file of typeScriptFiles(src)) {
    const own = unitOf(relative(src, file).split(sep).join('/'));
    const allowed = ALLOWED_IMPORTS[own];
    const shown = relative(root, file).split(sep).join('/');
    if (allowed === undefined) {
      problems.push(`${shown}: src/${own} is not a folder of docs/architecture.md (add it to the table in test/tools/check-imports.ts)`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    if (PURE_FORMATS.has(own) && usesProcess(file, text)) problems.push(`${shown}: a pure format reads \`process\` (take the value as an argument, read it in src/platform)`);
    for (const specifier of importsOf(text)) {
      if (specifier.startsWith('node:')) {
        if (PURE_FORMATS.has(own) && SYSTEM_BUILTINS.test(specifier)) problems.push(`${shown}: a pure format imports ${specifier} (move it to src/platform)`);
        continue;
      }
      if (!specifier.startsWith('.')) continue; // npm packages
      const target = posix.normalize(posix.join(dirname(shown), specifier));
      if (!target.startsWith('src/')) {
        problems.push(`${shown}: imports ${target}, outside src/`);
        continue;
      }
      const targetUnit = unitOf(target.slice('src/'.length));
      if (targetUnit === own) continue;
      if (!edges.has(own)) edges.set(own, new Set());
      edges.get(own)!.add(targetUnit);
      if (!allowed.includes(targetUnit)) problems.push(`${shown}: ${own} may not import ${targetUnit} (${target}); allowed: ${allowed.join(', ') || 'nothing'}`);
    }
  }
  for (const cycle of folderCycles(edges)) problems.push(`folder cycle: ${cycle.join(' -> ')}`);

  for (const file of typeScriptFiles(join(root, 'packaging'))) {
    const shown = relative(root, file).split(sep).join('/');
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      const target = posix.normalize(posix.join(dirname(shown), specifier));
      if (specifier.startsWith('.') && target.startsWith('test/')) problems.push(`${shown}: the release build imports test code (${target})`);
    }
  }
  return problems;
}

/** One cycle per back edge a depth-first walk meets, e.g. ["keys", "keywrap", "keys"]. */
function folderCycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const path: string[] = [];
  const visit = (unit: string): void => {
    state.set(unit, 'active');
    path.push(unit);
    for (const next of [...(edges.get(unit) ?? [])].sort()) {
      if (state.get(next) === 'active') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(unit, 'done');
  };
  for (const unit of [...edges.keys()].sort()) if (!state.has(unit)) visit(unit);
  return cycles;
}

if (import.meta.main) {
  const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..', '..'));
  const problems = checkImports(root);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} import(s) against docs/architecture.md`);
    process.exitCode = 1;
  }
}
