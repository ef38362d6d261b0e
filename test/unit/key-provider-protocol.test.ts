import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { interpretCommandOutcome } from '../../src/keywrap/key-provider/command.ts';
import { KeyProviderReplyError, keyUnwrapRequest, optsDataFromReply } from '../../src/keywrap/key-provider/protocol.ts';
import { FIXTURES, loadLayerCase } from '../support/fixtures.ts';

const OPTIONS = Buffer.from('{"symkey":"c2VjcmV0LWtleS1ieXRlcy1ub3QtdG8tYmUtcHJpbnRlZCE=","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAAAAAAAA=="}}');

describe('keyunwrap request', () => {
  // gen-provider.sh recorded what skopeo (Go ocicrypt) sent for
  // `--decryption-key provider:<name>:decrypt-parameter`: ours must be the same bytes.
  for (const [provider, layerName] of [['test-command', 'command-gzip'], ['test-grpc', 'grpc-gzip']] as const) {
    it(`byte-identical to ocicrypt's for ${provider}`, () => {
      const recorded = readFileSync(join(FIXTURES, 'provider', `ocicrypt-keyunwrap-${provider}.json`), 'utf8');
      const annotation = loadLayerCase('provider', layerName).descriptor.annotations[`org.opencontainers.image.enc.keys.provider.${provider}`]!;
      const request = keyUnwrapRequest(new Map([[provider, [Buffer.from('decrypt-parameter')]]]), Buffer.from(annotation, 'base64'));
      assert.equal(request.toString('utf8'), recorded);
    });
  }

  it('no parameters: an empty Parameters object; a null value is sent as ""', () => {
    assert.deepEqual(JSON.parse(keyUnwrapRequest(new Map(), Buffer.from('x')).toString()).keyunwrapparams, { dc: { Parameters: {} }, annotation: 'eA==' });
    const withNull = JSON.parse(keyUnwrapRequest(new Map([['p', [null, Buffer.from('v')]]]), Buffer.from('x')).toString());
    assert.deepEqual(withNull.keyunwrapparams.dc.Parameters, { p: ['', 'dg=='] });
  });
});

describe('the payload parameters a key provider may see', () => {
  it('everything but ocicrypt\'s key-material parameters', () => {
    const keys = assembleDecryptionKeys([], new Map([
      ['privkeys', [Buffer.from('not a key')]],
      ['privkeys-passwords', [null]],
      ['x509s', [Buffer.from('not a cert')]],
      ['gpg-privatekeys', [Buffer.from('k')]],
      ['gpg-privatekeys-passwords', [Buffer.from('p')]],
      ['pkcs11-yamls', [Buffer.from('y')]],
      ['pkcs11-config', [Buffer.from('c')]],
      ['attestation-agent', [Buffer.from('kbs')]],
      ['kms', [null]],
    ]));
    assert.deepEqual([...keys.keyProviderParameters], [['attestation-agent', [Buffer.from('kbs')]], ['kms', [null]]]);
  });
});

describe('keyunwrap reply', () => {
  const reply = (json: unknown) => Buffer.from(JSON.stringify(json));

  it('optsdata as base64', () => {
    assert.deepEqual(optsDataFromReply(reply({ keyunwrapresults: { optsdata: OPTIONS.toString('base64') } })), OPTIONS);
  });

  it('optsdata as an array of byte values', () => {
    assert.deepEqual(optsDataFromReply(reply({ keyunwrapresults: { optsdata: [...OPTIONS] } })), OPTIONS);
  });

  it('field names case-insensitive, other fields ignored (Go\'s encoding/json)', () => {
    const parsed = optsDataFromReply(reply({ KeyUnwrapResults: { OptsData: OPTIONS.toString('base64') }, keywrapresults: { annotation: null } }));
    assert.deepEqual(parsed, OPTIONS);
  });

  for (const [what, bytes, message] of [
    ['not JSON', Buffer.from(`optsdata: ${OPTIONS.toString('base64')}`), /^reply is not JSON \(\d+ bytes\)$/],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /^reply is not JSON \(3 bytes\)$/],
    ['an array', reply([OPTIONS.toString('base64')]), /^reply is not a JSON object$/],
    ['no keyunwrapresults', reply({ keywrapresults: {} }), /^reply has no keyunwrapresults\.optsdata$/],
    ['optsdata null', reply({ keyunwrapresults: { optsdata: null } }), /^reply has no keyunwrapresults\.optsdata$/],
    ['optsdata empty', reply({ keyunwrapresults: { optsdata: '' } }), /^reply has no keyunwrapresults\.optsdata$/],
    ['optsdata not base64', reply({ keyunwrapresults: { optsdata: 'not base64!' } }), /^reply keyunwrapresults\.optsdata is not valid base64$/],
    ['optsdata numbers out of range', reply({ keyunwrapresults: { optsdata: [1, 256] } }), /must be base64 text or an array of bytes$/],
    ['keyunwrapresults a string', reply({ keyunwrapresults: 'x' }), /^reply\.keyunwrapresults must be an object$/],
  ] as const) {
    it(`${what}: rejected without quoting the reply`, () => {
      assert.throws(() => optsDataFromReply(bytes), (error: unknown) => {
        assert.ok(error instanceof KeyProviderReplyError);
        assert.match(error.message, message);
        assert.ok(!error.message.includes(OPTIONS.toString('base64').slice(0, 12)));
        return true;
      });
    });
  }
});

describe('command outcomes', () => {
  const exited = (code: number | null, signal: string | null, stdout = '', stderr = '') => ({
    kind: 'exited' as const, code, signal, stdout: Buffer.from(stdout), stderr: Buffer.from(stderr),
  });

  it('exit 0: stdout is the reply, stderr ignored', () => {
    assert.deepEqual(interpretCommandOutcome(exited(0, null, '{"a":1}', 'warning: x'), 1000), { reply: Buffer.from('{"a":1}') });
  });

  it('non-zero exit: status and folded stderr, even with a reply on stdout', () => {
    assert.deepEqual(interpretCommandOutcome(exited(2, null, '{"keyunwrapresults":{}}', 'no such key\nbye\n'), 1000), {
      failure: 'exited with status 2, stderr: "no such key bye"',
      unreachable: false,
    });
    assert.deepEqual(interpretCommandOutcome(exited(1, null), 1000), { failure: 'exited with status 1', unreachable: false });
  });

  it('killed by a signal', () => {
    assert.deepEqual(interpretCommandOutcome(exited(null, 'SIGSEGV'), 1000), { failure: 'was killed by SIGSEGV', unreachable: false });
  });

  it('not started, timed out, too much output', () => {
    assert.deepEqual(interpretCommandOutcome({ kind: 'not-started', code: 'EACCES' }, 1000), { failure: 'cannot be started (EACCES)', unreachable: true });
    assert.deepEqual(interpretCommandOutcome({ kind: 'timed-out', stderr: Buffer.from('waiting for KMS\n') }, 1500), {
      failure: 'gave no reply within 1500 ms and was killed, stderr: "waiting for KMS"',
      unreachable: true,
    });
    assert.deepEqual(interpretCommandOutcome({ kind: 'too-large', limit: 1024 }, 1000), { failure: 'wrote more than 1024 bytes and was killed', unreachable: false });
  });
});
