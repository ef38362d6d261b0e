import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeSmallFileFailure, readSmallRegularFile } from '../../src/platform/small-file.ts';
import { temporaryDirectory } from '../support/temporary.ts';

describe('readSmallRegularFile', () => {
  const dir = temporaryDirectory();
  const file = join(dir, 'small');
  writeFileSync(file, 'abcdef');

  it('reads a regular file up to the limit, and nothing over it', () => {
    assert.deepEqual(readSmallRegularFile(file, 6), { ok: true, bytes: Buffer.from('abcdef') });
    assert.deepEqual(readSmallRegularFile(file, 5), { ok: false, failure: 'too-large', maxBytes: 5 });
    writeFileSync(join(dir, 'empty'), '');
    assert.deepEqual(readSmallRegularFile(join(dir, 'empty'), 0), { ok: true, bytes: Buffer.alloc(0) });
  });

  it('stops past the limit when the size says nothing (/proc)', () => {
    const read = readSmallRegularFile('/proc/self/status', 10);
    assert.deepEqual(read, { ok: false, failure: 'too-large', maxBytes: 10 });
  });

  it('a FIFO nobody writes to is refused at once, not read', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(readSmallRegularFile(fifo, 100), { ok: false, failure: 'not-regular' });
  });

  it('missing (also under a file), a directory, and the failure as messages say it', () => {
    assert.deepEqual(readSmallRegularFile(join(dir, 'nothing'), 100), { ok: false, failure: 'missing' });
    assert.deepEqual(readSmallRegularFile(join(file, 'below'), 100), { ok: false, failure: 'missing' });
    assert.deepEqual(readSmallRegularFile(dir, 100), { ok: false, failure: 'not-regular' });
    assert.equal(describeSmallFileFailure({ ok: false, failure: 'too-large', maxBytes: 5 }), 'larger than 5 bytes');
    assert.equal(describeSmallFileFailure({ ok: false, failure: 'unreadable', code: 'EACCES' }), 'not readable (EACCES)');
    assert.equal(describeSmallFileFailure({ ok: false, failure: 'not-regular' }), 'not a regular file');
  });
});
