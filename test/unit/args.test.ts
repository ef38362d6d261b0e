import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDecodeArguments } from '../../src/cli/args.ts';
import { UsageError } from '../../src/errors.ts';

describe('command line, as Go\'s flag package reads it', () => {
  for (const argv of [
    ['--decryption-keys-path', '/k'],
    ['-decryption-keys-path', '/k'],
    ['--decryption-keys-path=/k'],
    ['-decryption-keys-path=/k'],
  ]) {
    it(argv.join(' '), () => assert.equal(parseDecodeArguments(argv).keysDirectory, '/k'));
  }
  it('no arguments: keys only from the payload', () => {
    assert.deepEqual(parseDecodeArguments([]), { keysDirectory: null, help: false, version: false, verbose: false });
  });
  it('--help, -h, --version', () => {
    assert.equal(parseDecodeArguments(['--help']).help, true);
    assert.equal(parseDecodeArguments(['-h']).help, true);
    assert.equal(parseDecodeArguments(['--version']).version, true);
    assert.deepEqual(parseDecodeArguments(['--version', '--verbose']), { keysDirectory: null, help: false, version: true, verbose: true });
  });
  for (const argv of [['--decryption-keys-path'], ['--nope'], ['stray'], ['--help=maybe'], ['--', 'x'], ['--verbose']]) {
    it(`rejects ${argv.join(' ')}`, () => assert.throws(() => parseDecodeArguments(argv), UsageError));
  }
});
