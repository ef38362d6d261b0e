// A node --test reporter that writes, once every test has run, one line per
// skipped suite: the suite, what it misses and (in the skip reason) the
// command that enables it. `make test` prints these lines last, so that a
// quiet skip cannot pass for a green run. Test-level skips count when their
// reason names something missing (install, build, need); skips about the
// machine's state ("root reads any directory") do not.

import { relative } from 'node:path';
import { REPO_ROOT } from './paths.ts';

interface TestEvent {
  type: string;
  data: { name?: string; file?: string; skip?: string | boolean; details?: { type?: string } };
}

const MISSING = /install|not built|needs?\b|missing/i;

export default async function* skippedSuites(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  // One line per file and reason: cases skipped for the same reason (make
  // test-arm64 selects cases by name, see test/binary/pkcs11.test.ts) are one line.
  const lines = new Map<string, string>();
  for await (const event of source) {
    if (event.type !== 'test:pass' || event.data.skip === undefined || event.data.skip === false) continue;
    const reason = typeof event.data.skip === 'string' ? event.data.skip : '(no reason given)';
    if (event.data.details?.type !== 'suite' && !MISSING.test(reason)) continue;
    const file = event.data.file ? relative(REPO_ROOT, event.data.file.replace(/^file:\/\//, '')) : '?';
    const key = `${file}\n${reason}`;
    if (!lines.has(key)) lines.set(key, `skipped: ${file}: ${event.data.name ?? '?'}: ${reason}`);
  }
  yield lines.size === 0 ? 'skipped suites: none\n' : [...lines.values()].map((l) => `${l}\n`).join('');
}
