/** Where the payload comes from, and what the operator hears when it does not. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PayloadInvalidError } from '../../src/errors.ts';
import { readPayloadBytes } from '../../src/platform/payload-source.ts';
import { temporaryDirectory } from '../support/temporary.ts';

describe('readPayloadBytes (Windows: the named pipe in STREAM_PROCESSOR_PIPE)', () => {
  it('says why there is no payload when the variable is not set', async () => {
    assert.deepEqual(await readPayloadBytes({}, 'win32'), { bytes: null, missing: 'STREAM_PROCESSOR_PIPE is not set' });
  });

  it('a pipe that cannot be read: ERR_PAYLOAD_INVALID naming it, with what to check', async () => {
    const path = join(temporaryDirectory(), 'no-such-pipe');
    await assert.rejects(readPayloadBytes({ STREAM_PROCESSOR_PIPE: path }, 'win32'), (error: unknown) => {
      assert.ok(error instanceof PayloadInvalidError);
      assert.equal(error.message, `cannot read the decryption payload from ${path} (ENOENT)`);
      assert.match(error.hint ?? '', /STREAM_PROCESSOR_PIPE must name the pipe containerd made/);
      return true;
    });
  });
});
