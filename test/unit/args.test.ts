import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDecodeArguments } from '../../src/decode/decode-arguments.ts';
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
    assert.deepEqual(parseDecodeArguments([]), { keysDirectory: null, contentStore: null, requirePayload: false, help: false, version: false, verbose: false });
  });
  it('--help, -h, --version', () => {
    assert.equal(parseDecodeArguments(['--help']).help, true);
    assert.equal(parseDecodeArguments(['-h']).help, true);
    assert.equal(parseDecodeArguments(['--version']).version, true);
    assert.deepEqual(parseDecodeArguments(['--version', '--verbose']), { keysDirectory: null, contentStore: null, requirePayload: false, help: false, version: true, verbose: true });
  });
  it('--content-store DIR and --require-payload (payload-less lookup on, by default)', () => {
    assert.equal(parseDecodeArguments(['--content-store', '/var/lib/containerd']).contentStore, '/var/lib/containerd');
    assert.equal(parseDecodeArguments(['-content-store=/c']).contentStore, '/c');
    assert.equal(parseDecodeArguments(['--require-payload']).requirePayload, true);
    assert.equal(parseDecodeArguments(['--require-payload=false']).requirePayload, false);
    assert.equal(parseDecodeArguments(['--decryption-keys-path', '/k']).requirePayload, false);
  });
  for (const argv of [['--decryption-keys-path'], ['--content-store'], ['--require-payload=yes'], ['--nope'], ['stray'], ['--help=maybe'], ['--', 'x'], ['--verbose']]) {
    it(`rejects ${argv.join(' ')}`, () => assert.throws(() => parseDecodeArguments(argv), UsageError));
  }
});

describe('coded errors', () => {
  it('are named with their code, as Node names its own, whatever the bundler calls the class', () => {
    const error = (() => {
      try {
        parseDecodeArguments(['--nope']);
      } catch (thrown) {
        return thrown as Error;
      }
      throw new Error('no usage error');
    })();
    assert.equal(error.name, 'DecoderError [ERR_USAGE]');
    assert.match(String(error), /^DecoderError \[ERR_USAGE\]: unknown flag "--nope"$/);
  });
});
