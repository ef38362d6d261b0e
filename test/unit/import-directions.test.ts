// test/tools/check-imports.ts, which `make typecheck` runs: the repository
// keeps docs/architecture.md's import directions, and a tree that breaks them
// fails the check.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../support/paths.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const CHECKER = join(REPO_ROOT, 'test', 'tools', 'check-imports.ts');

/** A repository root holding FILES (path -> source). */
function tree(files: Record<string, string>): string {
  const root = temporaryDirectory('ctd-decoder-imports-');
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  return root;
}

function check(root: string): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [CHECKER, root], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

const LAWFUL = {
  'src/errors.ts': 'export class DecoderError extends Error {}\n',
  'src/keys/decryption-keys.ts': "import { DecoderError } from '../errors.ts';\nexport const keys = DecoderError;\n",
  'src/keywrap/jwe.ts': "import { keys } from '../keys/decryption-keys.ts';\nexport const jwe = keys;\n",
  'src/operator/commands/keys.ts': "import { jwe } from '../../keywrap/jwe.ts';\nexport const run = () => import('../../keys/decryption-keys.ts').then(() => jwe);\n",
};

describe('import directions (test/tools/check-imports.ts)', () => {
  it('the repository keeps them', () => {
    const result = check(REPO_ROOT);
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
  });

  it('a tree that keeps them passes', () => {
    assert.deepEqual(check(tree(LAWFUL)), { status: 0, stderr: '' });
  });

  it('a back edge fails, and the folder cycle it makes is named', () => {
    const result = check(tree({ ...LAWFUL, 'src/keys/classify.ts': "import { jwe } from '../keywrap/jwe.ts';\nexport const c = jwe;\n" }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^src\/keys\/classify\.ts: keys may not import keywrap \(src\/keywrap\/jwe\.ts\)/m);
    assert.match(result.stderr, /^folder cycle: keys -> keywrap -> keys$/m);
  });

  it('a dynamic import is an import: the decode path may not load the operator tree lazily either', () => {
    const result = check(tree({ ...LAWFUL, 'src/decode/decode-command.ts': "export const later = () => import('../operator/commands/keys.ts');\n" }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /src\/decode\/decode-command\.ts: decode may not import operator/);
  });

  it('a pure format that reaches for the file system fails', () => {
    const result = check(tree({ ...LAWFUL, 'src/keywrap/pgp.ts': "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n" }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /src\/keywrap\/pgp\.ts: a pure format imports node:fs/);
  });

  it('a pure format that reads the environment fails; a comment naming process.env does not', () => {
    const comment = check(tree({ ...LAWFUL, 'src/keys/env.ts': '/** Never reads process.env: the caller does. */\nexport const e = 1;\n' }));
    assert.deepEqual(comment, { status: 0, stderr: '' });
    const result = check(tree({ ...LAWFUL, 'src/keys/env.ts': "export const home = process.env['HOME'];\n" }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /src\/keys\/env\.ts: a pure format reads `process`/);
  });

  it('a folder the architecture does not name fails', () => {
    const result = check(tree({ ...LAWFUL, 'src/util/misc.ts': 'export const x = 1;\n' }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /src\/util is not a folder of docs\/architecture\.md/);
  });

  it('the release build may not import test code', () => {
    const result = check(tree({ ...LAWFUL, 'packaging/warm-up.ts': "import { encodePayload } from '../test/support/payload.ts';\nvoid encodePayload;\n" }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /packaging\/warm-up\.ts: the release build imports test code \(test\/support\/payload\.ts\)/);
  });
});
