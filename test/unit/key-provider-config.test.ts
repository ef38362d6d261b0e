import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  DEFAULT_KEYPROVIDER_TIMEOUT_MS,
  parseKeyProviderConfig,
  parseKeyProviderTimeout,
  type KeyProviderConfigFile,
} from '../../src/keywrap/key-provider/config.ts';
import { parseGrpcAddress } from '../../src/keywrap/key-provider/grpc.ts';
import { KeyProviderConfigError } from '../../src/errors.ts';
import { REPO_ROOT } from '../support/run-decoder.ts';

const PATH = '/etc/containerd/ocicrypt/ocicrypt_keyprovider.conf';
const read = (json: unknown): KeyProviderConfigFile => ({ state: 'read', path: PATH, text: typeof json === 'string' ? json : JSON.stringify(json) });
const providers = (json: unknown) => parseKeyProviderConfig(read(json)).providers;

describe('key-provider config: which file', () => {
  it('variable unset: no providers, no file', () => {
    assert.deepEqual(parseKeyProviderConfig({ state: 'unset' }), { path: null, found: false, providers: new Map() });
  });

  it('file missing: no providers, the path kept for messages', () => {
    assert.deepEqual(parseKeyProviderConfig({ state: 'missing', path: PATH }), { path: PATH, found: false, providers: new Map() });
  });

  it('file unreadable: ERR_KEYPROVIDER_CONFIG naming it', () => {
    assert.throws(
      () => parseKeyProviderConfig({ state: 'unreadable', path: PATH, reason: 'EACCES' }),
      (error: unknown) => error instanceof KeyProviderConfigError && error.code === 'ERR_KEYPROVIDER_CONFIG' && error.message === `cannot read key-provider config ${PATH} (EACCES)`,
    );
  });

  it('no key-providers object, or null: found, but no providers', () => {
    assert.deepEqual(parseKeyProviderConfig(read({})), { path: PATH, found: true, providers: new Map() });
    assert.equal(providers({ 'key-providers': null }).size, 0);
  });
});

describe('key-provider config: entries, read as Go reads them', () => {
  it('cmd with path and args; grpc with and without grpc-tls', () => {
    const parsed = providers({
      'key-providers': {
        kms: { cmd: { path: '/usr/bin/kms-provider', args: ['--mode', 'unwrap'] } },
        aa: { grpc: 'unix:///run/aa.sock' },
        vault: {
          grpc: 'vault.example:8443',
          'grpc-tls': { 'root-ca-file': '/ca.pem', 'cert-file': '/c.pem', 'key-file': '/k.pem', 'server-name': 'vault', 'insecure-skip-verify': true },
        },
      },
    });
    assert.deepEqual(parsed.get('kms'), { kind: 'cmd', path: '/usr/bin/kms-provider', args: ['--mode', 'unwrap'] });
    assert.deepEqual(parsed.get('aa'), { kind: 'grpc', address: 'unix:///run/aa.sock', tls: null });
    assert.deepEqual(parsed.get('vault'), {
      kind: 'grpc',
      address: 'vault.example:8443',
      tls: { rootCaFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', serverName: 'vault', insecureSkipVerify: true },
    });
  });

  it('field names match case-insensitively, unknown fields are ignored, args may be absent or null', () => {
    const parsed = providers({ 'Key-Providers': { a: { CMD: { Path: '/a', Args: null }, comment: 'x' }, b: { Cmd: { path: '/b' } } } });
    assert.deepEqual(parsed.get('a'), { kind: 'cmd', path: '/a', args: [] });
    assert.deepEqual(parsed.get('b'), { kind: 'cmd', path: '/b', args: [] });
  });

  it('cmd wins over grpc, as in ocicrypt; empty grpc-tls strings mean unset', () => {
    assert.equal(providers({ 'key-providers': { a: { cmd: { path: '/a' }, grpc: 'h:1' } } }).get('a')?.kind, 'cmd');
    const tls = providers({ 'key-providers': { a: { grpc: 'h:1', 'grpc-tls': { 'root-ca-file': '' } } } }).get('a');
    assert.deepEqual(tls, { kind: 'grpc', address: 'h:1', tls: { rootCaFile: null, certFile: null, keyFile: null, serverName: null, insecureSkipVerify: false } });
  });

  it('entries that cannot run are kept as invalid (an error only for the layers that need them)', () => {
    const parsed = providers({
      'key-providers': {
        'doc-example': { path: '/usr/lib/ocicrypt-isecl', args: [] },
        'no-path': { cmd: { args: ['x'] } },
        nothing: null,
        'half-client-cert': { grpc: 'h:1', 'grpc-tls': { 'cert-file': '/c.pem' } },
      },
    });
    assert.deepEqual(parsed.get('doc-example'), { kind: 'invalid', reason: '.key-providers["doc-example"] has neither "cmd" nor "grpc"' });
    assert.deepEqual(parsed.get('no-path'), { kind: 'invalid', reason: '.key-providers["no-path"].cmd has no "path"' });
    assert.deepEqual(parsed.get('nothing'), { kind: 'invalid', reason: '.key-providers["nothing"] has neither "cmd" nor "grpc"' });
    assert.match((parsed.get('half-client-cert') as { reason: string }).reason, /needs both "cert-file" and "key-file"/);
  });

  for (const [what, text, message] of [
    ['not JSON', '{"key-providers":', 'the file is not valid JSON'],
    ['an empty file', '', 'the file is not valid JSON'],
    ['an array', '[]', 'the file must hold a JSON object'],
    ['key-providers a list', '{"key-providers":[]}', '.key-providers must be an object'],
    ['an entry a string', '{"key-providers":{"a":"/bin/a"}}', '.key-providers["a"] must be an object'],
    ['cmd a string', '{"key-providers":{"a":{"cmd":"/bin/a"}}}', '.key-providers["a"].cmd must be an object'],
    ['path a number', '{"key-providers":{"a":{"cmd":{"path":1}}}}', '.key-providers["a"].cmd.path must be a string'],
    ['args with a number', '{"key-providers":{"a":{"cmd":{"path":"/a","args":["x",1]}}}}', '.key-providers["a"].cmd.args must be an array of strings'],
    ['grpc a number', '{"key-providers":{"a":{"grpc":50051}}}', '.key-providers["a"].grpc must be a string'],
    ['insecure-skip-verify a string', '{"key-providers":{"a":{"grpc":"h:1","grpc-tls":{"insecure-skip-verify":"yes"}}}}', '.key-providers["a"].grpc-tls.insecure-skip-verify must be true or false'],
  ] as const) {
    it(`${what}: ERR_KEYPROVIDER_CONFIG, the whole file unusable`, () => {
      assert.throws(
        () => parseKeyProviderConfig(read(text)),
        (error: unknown) => error instanceof KeyProviderConfigError && error.message === `key-provider config ${PATH}: ${message}`,
      );
    });
  }
});

describe('the shipped example', () => {
  it('config-examples/ocicrypt-keyprovider.conf parses: a gRPC, a command and a gRPC-over-TLS provider', () => {
    const path = join(REPO_ROOT, 'config-examples', 'ocicrypt-keyprovider.conf');
    const parsed = parseKeyProviderConfig({ state: 'read', path, text: readFileSync(path, 'utf8') }).providers;
    assert.deepEqual([...parsed].map(([name, endpoint]) => [name, endpoint.kind, 'tls' in endpoint && endpoint.tls !== null]), [
      ['attestation-agent', 'grpc', false],
      ['kms', 'cmd', false],
      ['vault', 'grpc', true],
    ]);
    for (const endpoint of parsed.values()) if (endpoint.kind === 'grpc') parseGrpcAddress(endpoint.address);
  });
});

describe('key-provider timeout setting', () => {
  it('unset or empty: the default', () => {
    assert.equal(parseKeyProviderTimeout(undefined), DEFAULT_KEYPROVIDER_TIMEOUT_MS);
    assert.equal(parseKeyProviderTimeout(''), DEFAULT_KEYPROVIDER_TIMEOUT_MS);
    assert.equal(DEFAULT_KEYPROVIDER_TIMEOUT_MS, 30_000);
  });

  it('whole milliseconds', () => {
    assert.equal(parseKeyProviderTimeout('250'), 250);
    assert.equal(parseKeyProviderTimeout('3600000'), 3_600_000);
  });

  for (const bad of ['0', '-1', '1.5', '30s', ' 100', '3600001', '99999999999']) {
    it(`"${bad}": ERR_KEYPROVIDER_CONFIG`, () => {
      assert.throws(() => parseKeyProviderTimeout(bad), (error: unknown) => error instanceof KeyProviderConfigError && /must be whole milliseconds/.test(error.message));
    });
  }
});

describe('gRPC addresses', () => {
  for (const [address, endpoint] of [
    ['127.0.0.1:50051', { kind: 'tcp', host: '127.0.0.1', port: 50051 }],
    ['localhost:1', { kind: 'tcp', host: 'localhost', port: 1 }],
    [':50000', { kind: 'tcp', host: 'localhost', port: 50000 }],
    ['[::1]:65535', { kind: 'tcp', host: '::1', port: 65535 }],
    ['dns:///kms.example:443', { kind: 'tcp', host: 'kms.example', port: 443 }],
    ['unix:/run/aa.sock', { kind: 'unix', path: '/run/aa.sock' }],
    ['unix:///run/aa.sock', { kind: 'unix', path: '/run/aa.sock' }],
    ['unix:relative.sock', { kind: 'unix', path: 'relative.sock' }],
  ] as const) {
    it(`${address}`, () => assert.deepEqual(parseGrpcAddress(address), endpoint));
  }

  for (const bad of ['localhost', 'http://localhost:80', 'host:0', 'host:65536', 'host:port', '::1:80', 'unix:', 'unix://', 'unix://relative', 'dns://h:1']) {
    it(`"${bad}": ERR_KEYPROVIDER_CONFIG`, () => {
      assert.throws(() => parseGrpcAddress(bad), (error: unknown) => error instanceof KeyProviderConfigError && error.message.startsWith(`key-provider gRPC address "${bad}" is not usable`));
    });
  }
});
