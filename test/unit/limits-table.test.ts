/** docs/threat-model.md's table of limits says what src/limits.ts holds: every limit, with its value. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as limits from '../../src/limits.ts';
import { REPO_ROOT } from '../support/paths.ts';

const UNITS: Record<string, number> = { '': 1, KiB: 1024, MiB: 1024 * 1024, s: 1000 };

/** `| what | \`NAME\` | 16 MiB |` rows: the constant's name and its value in the constant's own unit. */
function tableOf(readme: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const [, name, amount, unit] of readme.matchAll(/^\s*\|[^|\n]+\| `([A-Z0-9_]+)` \| ([\d,]+) ?(KiB|MiB|s)? \|$/gm)) {
    rows.set(name!, Number(amount!.replace(/,/g, '')) * UNITS[unit ?? '']!);
  }
  return rows;
}

describe('limits documented', () => {
  it('docs/threat-model.md lists every limit of src/limits.ts with its value, and nothing else', () => {
    const table = tableOf(readFileSync(join(REPO_ROOT, 'docs', 'threat-model.md'), 'utf8'));
    assert.deepEqual(Object.fromEntries([...table].sort()), Object.fromEntries(Object.entries(limits).sort()));
  });
});
