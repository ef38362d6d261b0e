// The HTTP/2 exchange with a gRPC key provider never rejects and never
// hangs: TLS files that hold no certificate or key are named before any
// connection is tried, and whatever node:net, node:tls or node:http2 throw
// while connecting is an outcome, with no timer left behind.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KeyProviderConfigError } from '../../src/errors.ts';
import type { GrpcTlsSettings } from '../../src/keywrap/key-provider/config.ts';
import { interpretUnaryOutcome, type GrpcEndpoint } from '../../src/keywrap/key-provider/grpc.ts';
import { http2UnaryExchange } from '../../src/platform/key-provider-http2.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const dir = temporaryDirectory('ctd-decoder-http2-');
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
openssl('req', '-x509', ...newKey, '-keyout', 'client.key', '-out', 'client.crt', '-days', '2', '-subj', '/CN=client');
openssl('req', '-x509', ...newKey, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=other');
writeFileSync(join(dir, 'garbage'), 'this is neither a certificate nor a key\n');
writeFileSync(join(dir, 'broken.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');

const file = (name: string) => join(dir, name);
const tls = (settings: Partial<GrpcTlsSettings>): GrpcTlsSettings => ({
  rootCaFile: file('client.crt'),
  certFile: file('client.crt'),
  keyFile: file('client.key'),
  serverName: null,
  insecureSkipVerify: false,
  ...settings,
});

/** Nobody listens there: reaching the network at all shows as ECONNREFUSED. */
const CLOSED_PORT: GrpcEndpoint = { kind: 'tcp', host: '127.0.0.1', port: 1 };

function exchange(endpoint: GrpcEndpoint, settings: GrpcTlsSettings | null) {
  return http2UnaryExchange({ endpoint, tls: settings, headers: { ':method': 'POST', ':path': '/x' }, body: Buffer.alloc(0), timeoutMs: 60_000, maxReplyBytes: 1024 });
}

const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

describe('grpc-tls files that are not usable', () => {
  for (const [what, settings, setting, path, code] of [
    ['a cert-file that is no certificate', { certFile: file('garbage') }, 'cert-file', 'garbage', /^ERR_OSSL_/],
    ['a key-file that is no key', { keyFile: file('garbage') }, 'key-file', 'garbage', /^ERR_OSSL_/],
    ['a key-file that is not the certificate\'s key', { keyFile: file('other.key') }, 'key-file', 'other.key', /^ERR_OSSL_X509_KEY_VALUES_MISMATCH$/],
    ['a root-ca-file that holds no certificate', { rootCaFile: file('garbage') }, 'root-ca-file', 'garbage', /^no PEM certificate$/],
    ['a root-ca-file whose certificate does not parse', { rootCaFile: file('broken.crt'), certFile: null }, 'root-ca-file', 'broken.crt', /^no PEM certificate$/],
  ] as const) {
    it(`${what}: named before connecting, as ERR_KEYPROVIDER_CONFIG`, async () => {
      const before = timers();
      const outcome = await exchange(CLOSED_PORT, tls(settings));
      assert.equal(outcome.kind, 'tls-file-invalid', JSON.stringify(outcome));
      assert.ok(outcome.kind === 'tls-file-invalid' && outcome.setting === setting && outcome.path === file(path) && code.test(outcome.code), JSON.stringify(outcome));
      assert.equal(timers(), before, 'a timer was left running');
      assert.throws(
        () => interpretUnaryOutcome(outcome, 1000),
        (error: Error) => error instanceof KeyProviderConfigError && error.message === `grpc-tls ${setting} ${file(path)} is not usable (${outcome.code})`,
      );
    });
  }

  it('a FIFO at root-ca-file, cert-file or key-file is refused at once, never read (issue 12: it hung the decode)', async () => {
    execFileSync('mkfifo', [file('fifo')]);
    for (const [settings, setting] of [
      [{ rootCaFile: file('fifo') }, 'root-ca-file'],
      [{ certFile: file('fifo') }, 'cert-file'],
      [{ keyFile: file('fifo') }, 'key-file'],
    ] as const) {
      assert.deepEqual(await exchange(CLOSED_PORT, tls(settings)), { kind: 'tls-file-unreadable', setting, path: file('fifo'), code: 'not a regular file' });
    }
    assert.deepEqual(await exchange(CLOSED_PORT, tls({ rootCaFile: file('absent') })), { kind: 'tls-file-unreadable', setting: 'root-ca-file', path: file('absent'), code: 'ENOENT' });
  });

  it('good files, with and without a client certificate, go on to connect', async () => {
    assert.deepEqual(await exchange(CLOSED_PORT, tls({})), { kind: 'connect-failed', code: 'ECONNREFUSED' });
    assert.deepEqual(await exchange(CLOSED_PORT, tls({ certFile: null, keyFile: null })), { kind: 'connect-failed', code: 'ECONNREFUSED' });
  });
});

describe('what connecting throws', () => {
  it('is a connect-failed outcome, promptly, with no timer left running', async () => {
    const before = timers();
    // node:http2 throws for an origin it cannot parse (here, a port out of range) rather than emitting an error.
    for (const settings of [null, tls({})]) {
      assert.deepEqual(await exchange({ kind: 'tcp', host: '127.0.0.1', port: 70_000 }, settings), { kind: 'connect-failed', code: 'ERR_INVALID_URL' });
    }
    assert.equal(timers(), before, 'a timer was left running');
  });
});
