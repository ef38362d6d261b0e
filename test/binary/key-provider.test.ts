/**
 * Key providers through the built binary, configured as containerd does it:
 * OCICRYPT_KEYPROVIDER_CONFIG in the environment naming a JSON file. The
 * layers were encrypted by skopeo 1.18 through the test providers
 * (test/fixtures/gen-provider.sh); here the decoder asks the same providers,
 * a command and a gRPC service (h2c on a unix socket and TCP, TLS with a
 * client certificate), to unwrap them, and every way a provider can fail is
 * one coded line.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGrpcProvider, type GrpcProviderOptions, type RunningGrpcProvider } from '../key-provider/grpc-server.ts';
import { PROVIDER_SECRETS, openOptions } from '../key-provider/wrapping.ts';
import { assertCodedFailure, assertDecrypted, decrypt as decryptLayer } from '../support/assertions.ts';
import { keysDirectoryWith, fixtureKey, loadLayerCase, type LayerCase } from '../support/fixtures.ts';
import type { Parameters } from '../support/payload.ts';
import { REPO_ROOT, type DecoderRun } from '../support/run-decoder.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const COMMAND_LAYER = loadLayerCase('provider', 'command-gzip');
const GRPC_LAYER = loadLayerCase('provider', 'grpc-gzip');
const BOTH_LAYER = loadLayerCase('provider', 'both-gzip');
const JWE_LAYER = loadLayerCase('jwe', 'rsa2048-gzip');

const COMMAND_PROVIDER = join(REPO_ROOT, 'test', 'key-provider', 'command-provider.ts');
const TIMEOUT_VARIABLE = 'CTD_DECODER_KEYPROVIDER_TIMEOUT_MS';
const SHORT_TIMEOUT_MS = 400;
/** Long enough for a shell script to start a child and write both pids (milliseconds) on a busy machine. */
const COMMAND_TIMEOUT_MS = 2000;
const dir = temporaryDirectory('ctd-decoder-key-provider-');

/** The private options each provider layer unwraps to: they must never be printed. */
const layerSecrets = (layer: LayerCase): string[] =>
  Object.entries(layer.descriptor.annotations)
    .filter(([name]) => name.includes('.keys.provider.'))
    .map(([name, value]) => {
      const secret = name.endsWith('test-grpc') ? PROVIDER_SECRETS.grpc : PROVIDER_SECRETS.command;
      const options = JSON.parse(openOptions(secret, Buffer.from(value, 'base64')).toString());
      return options.symkey as string;
    });
const FORBIDDEN = [
  ...[COMMAND_LAYER, GRPC_LAYER, BOTH_LAYER].flatMap(layerSecrets),
  PROVIDER_SECRETS.command.toString(),
  PROVIDER_SECRETS.grpc.toString(),
];

function commandProvider(...args: string[]) {
  return { cmd: { path: process.execPath, args: [COMMAND_PROVIDER, ...args] } };
}

let configCount = 0;
function writeConfig(providers: Record<string, unknown>): string {
  const path = join(dir, `ocicrypt_keyprovider-${++configCount}.conf`);
  writeFileSync(path, JSON.stringify({ 'key-providers': providers }, null, 2));
  return path;
}

interface DecryptOptions {
  config?: string | null;
  env?: NodeJS.ProcessEnv;
  parameters?: Parameters | null;
  keysDirectory?: string;
}

function decrypt(layer: LayerCase, options: DecryptOptions = {}): Promise<DecoderRun> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], ...options.env };
  if (options.config) env['OCICRYPT_KEYPROVIDER_CONFIG'] = options.config;
  return decryptLayer(layer, options.keysDirectory ?? null, options.parameters ?? null, layer.descriptor, env);
}

/** One coded line naming the layer, no output, no secret; returns the line. */
function assertFails(run: DecoderRun, code: string, layer: LayerCase): string {
  assertCodedFailure(run, code, { layer, noOutput: true, secrets: FORBIDDEN });
  return run.stderr.trimEnd();
}

// ---------------------------------------------------------------- TLS material

interface TlsMaterial {
  caCert: string;
  serverKey: Buffer;
  serverCert: Buffer;
  clientKey: string;
  clientCert: string;
}

/** A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, made fresh with openssl. */
function makeTlsMaterial(): TlsMaterial {
  const tls = join(dir, 'tls');
  mkdirSync(tls);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: ['ignore', 'ignore', 'pipe'] });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...newKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ctd-decoder test CA');
  for (const [name, extensions] of [
    ['server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(tls, `${name}.ext`), extensions);
    openssl('req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=ctd-decoder test ${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', name === 'server' ? '2' : '3',
      '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }
  return {
    caCert: join(tls, 'ca.crt'),
    serverKey: readFileSync(join(tls, 'server.key')),
    serverCert: readFileSync(join(tls, 'server.crt')),
    clientKey: join(tls, 'client.key'),
    clientCert: join(tls, 'client.crt'),
  };
}

// ---------------------------------------------------------------- gRPC providers

const providers: RunningGrpcProvider[] = [];
async function grpcProvider(options: GrpcProviderOptions): Promise<string> {
  const provider = await startGrpcProvider(options);
  providers.push(provider);
  return provider.address;
}

let unixAddress: string;
let tcpAddress: string;
let tlsAddress: string;
let tls: TlsMaterial;
const grpcRequests: string[] = [];

before(async () => {
  tls = makeTlsMaterial();
  unixAddress = await grpcProvider({ listen: { path: join(dir, 'provider.sock') }, onRequest: (json) => grpcRequests.push(json) });
  tcpAddress = await grpcProvider({ listen: { port: 0 } });
  tlsAddress = await grpcProvider({
    listen: { port: 0 },
    tls: { key: tls.serverKey, cert: tls.serverCert, clientCa: readFileSync(tls.caCert) },
  });
});

after(async () => {
  await Promise.all(providers.map((provider) => provider.close()));
});

const tlsSettings = (overrides: Record<string, unknown> = {}) => ({
  'root-ca-file': tls.caCert,
  'cert-file': tls.clientCert,
  'key-file': tls.clientKey,
  ...overrides,
});

// ---------------------------------------------------------------- tests

describe('layers wrapped by skopeo through key providers decrypt byte-identically', () => {
  it('command provider', async () => {
    assertDecrypted(await decrypt(COMMAND_LAYER, { config: writeConfig({ 'test-command': commandProvider() }) }), COMMAND_LAYER);
  });

  it('command provider answering optsdata as an array of byte values', async () => {
    const config = writeConfig({ 'test-command': commandProvider('--optsdata-array') });
    assertDecrypted(await decrypt(COMMAND_LAYER, { config }), COMMAND_LAYER);
  });

  it('gRPC provider on a unix socket (h2c)', async () => {
    assertDecrypted(await decrypt(GRPC_LAYER, { config: writeConfig({ 'test-grpc': { grpc: unixAddress } }) }), GRPC_LAYER);
  });

  it('gRPC provider on a unix:/// address', async () => {
    const config = writeConfig({ 'test-grpc': { grpc: unixAddress.replace('unix:', 'unix://') } });
    assertDecrypted(await decrypt(GRPC_LAYER, { config }), GRPC_LAYER);
  });

  it('gRPC provider on TCP (h2c)', async () => {
    assertDecrypted(await decrypt(GRPC_LAYER, { config: writeConfig({ 'test-grpc': { grpc: tcpAddress } }) }), GRPC_LAYER);
  });

  it('gRPC provider over TLS: root-ca-file, client certificate', async () => {
    const config = writeConfig({ 'test-grpc': { grpc: tlsAddress, 'grpc-tls': tlsSettings() } });
    assertDecrypted(await decrypt(GRPC_LAYER, { config }), GRPC_LAYER);
  });

  it('gRPC provider over TLS with server-name', async () => {
    const config = writeConfig({ 'test-grpc': { grpc: tlsAddress, 'grpc-tls': tlsSettings({ 'server-name': 'localhost' }) } });
    assertDecrypted(await decrypt(GRPC_LAYER, { config }), GRPC_LAYER);
  });

  it('a layer wrapped for two providers: the first failing does not stop the second', async () => {
    const config = writeConfig({ 'test-command': commandProvider('--behave', 'fail'), 'test-grpc': { grpc: unixAddress } });
    assertDecrypted(await decrypt(BOTH_LAYER, { config }), BOTH_LAYER);
  });

  it('a keys directory and JWE keys alongside do not get in the way', async () => {
    const config = writeConfig({ 'test-command': commandProvider() });
    const run = await decrypt(COMMAND_LAYER, { config, keysDirectory: keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem') });
    assertDecrypted(run, COMMAND_LAYER);
  });
});

describe('what a provider is sent', () => {
  const payloadParameters: Parameters = {
    privkeys: [fixtureKey('jwe', 'ec256.pkcs8.pem')],
    'privkeys-passwords': [null],
    'test-command': [Buffer.from('for the command provider')],
    'test-grpc': [Buffer.from('for the gRPC provider')],
  };

  it('the keyunwrap request, with only its own payload parameter: no private key, no other provider\'s parameter', async () => {
    const record = join(dir, 'command-requests.log');
    const config = writeConfig({ 'test-command': commandProvider('--record', record) });
    const keysDirectory = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');
    assertDecrypted(await decrypt(COMMAND_LAYER, { config, parameters: payloadParameters, keysDirectory }), COMMAND_LAYER);
    const requests = readFileSync(record, 'utf8').trim().split('\n');
    assert.equal(requests.length, 1);
    assert.deepEqual(JSON.parse(requests[0]!), {
      op: 'keyunwrap',
      keywrapparams: { ec: null, optsdata: null },
      keyunwrapparams: {
        dc: { Parameters: { 'test-command': [Buffer.from('for the command provider').toString('base64')] } },
        annotation: COMMAND_LAYER.descriptor.annotations['org.opencontainers.image.enc.keys.provider.test-command'],
      },
    });
  });

  it('the same JSON over gRPC; no payload parameter for it: empty Parameters', async () => {
    grpcRequests.length = 0;
    const config = writeConfig({ 'test-grpc': { grpc: unixAddress } });
    assertDecrypted(await decrypt(GRPC_LAYER, { config, parameters: { privkeys: [fixtureKey('jwe', 'ec256.pkcs8.pem')] } }), GRPC_LAYER);
    assert.equal(grpcRequests.length, 1);
    assert.deepEqual(JSON.parse(grpcRequests[0]!).keyunwrapparams.dc, { Parameters: {} });
  });
});

describe('provider failures: one coded line naming the provider', () => {
  const commandFails = async (args: string[], env: NodeJS.ProcessEnv = {}) =>
    assertFails(await decrypt(COMMAND_LAYER, { config: writeConfig({ 'test-command': commandProvider(...args) }), env }), 'ERR_NO_MATCHING_KEY', COMMAND_LAYER);

  it('command exits non-zero: its status and its stderr, folded to one line and cut', async () => {
    const line = await commandFails(['--behave', 'fail']);
    assert.ok(
      line.includes(`provider.test-command: command ${process.execPath}: exited with status 7, stderr: "test provider: the key is revoked second line of detail padding`),
      line,
    );
    assert.match(line, /padding…"/);
  });

  it('command exits non-zero after a valid reply: the exit status wins', async () => {
    assert.match(await commandFails(['--behave', 'exit-after-reply']), /exited with status 3/);
  });

  it('command cannot unwrap (not its secret): its own explanation', async () => {
    assert.match(await commandFails(['--secret', 'grpc']), /exited with status 1, stderr: "test provider: cannot answer: /);
  });

  it('command writes garbage: the reply is not quoted', async () => {
    const line = await commandFails(['--behave', 'garbage']);
    assert.match(line, /provider\.test-command: command \S+: reply is not JSON \(\d+ bytes\)/);
    assert.ok(!line.includes('mentions optsdata'), line);
  });

  it(`command hangs: killed after ${TIMEOUT_VARIABLE} with everything it started`, async () => {
    const pidFile = join(dir, 'hang.pids');
    // A shell script, not the node provider: node took up to 0.5 s of the 2 s
    // to start and write the pids on this 2-core machine, so a loaded run
    // could kill it before it had started its child.
    const hanging = join(dir, 'hanging-provider');
    writeFileSync(hanging, `#!/bin/sh\nsleep 600 &\nprintf '%s\\n%s\\n' $$ $! >'${pidFile}'\nwait\n`, { mode: 0o755 });
    const config = writeConfig({ 'test-command': { cmd: { path: hanging, args: [] } } });
    const started = Date.now();
    const run = await decrypt(COMMAND_LAYER, { config, env: { [TIMEOUT_VARIABLE]: String(COMMAND_TIMEOUT_MS) } });
    const line = assertFails(run, 'ERR_NO_MATCHING_KEY', COMMAND_LAYER);
    assert.ok(Date.now() - started < 15_000, 'the time limit was not applied');
    assert.match(line, new RegExp(`${hanging}: gave no reply within ${COMMAND_TIMEOUT_MS} ms and was killed`));
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    assert.equal(pids.length, 2);
    for (const pid of pids) await assertProcessGone(pid);
  });

  it('command does not exist', async () => {
    const config = writeConfig({ 'test-command': { cmd: { path: join(dir, 'no-such-provider'), args: [] } } });
    const line = assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_NO_MATCHING_KEY', COMMAND_LAYER);
    assert.match(line, /provider\.test-command: command \S+no-such-provider: cannot be started \(ENOENT\)/);
  });

  it('command is run without a shell', async () => {
    const config = writeConfig({ 'test-command': { cmd: { path: `${process.execPath} ${COMMAND_PROVIDER}`, args: [] } } });
    assert.match(assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_NO_MATCHING_KEY', COMMAND_LAYER), /cannot be started \(ENOENT\)/);
  });

  const grpcFails = async (entry: unknown, env: NodeJS.ProcessEnv = {}) =>
    assertFails(await decrypt(GRPC_LAYER, { config: writeConfig({ 'test-grpc': entry }), env }), 'ERR_NO_MATCHING_KEY', GRPC_LAYER);

  it('gRPC connection refused', async () => {
    const closed = await startGrpcProvider({ listen: { port: 0 } });
    await closed.close();
    const line = await grpcFails({ grpc: closed.address });
    assert.ok(line.includes(`provider.test-grpc: gRPC ${closed.address}: not reachable (ECONNREFUSED)`), line);
  });

  it('gRPC unix socket that does not exist', async () => {
    const address = `unix:${join(dir, 'nobody-listens.sock')}`;
    assert.ok((await grpcFails({ grpc: address })).includes(`gRPC ${address}: not reachable (ENOENT)`));
  });

  it('gRPC error status: name, code and message, folded', async () => {
    const address = await grpcProvider({ listen: { port: 0 }, behave: 'fail' });
    const line = await grpcFails({ grpc: address });
    assert.ok(line.includes(`gRPC ${address}: status INTERNAL (13): "test provider: the key is revoked second line 100% sure"`), line);
  });

  it('gRPC provider never answers: the deadline', async () => {
    const address = await grpcProvider({ listen: { port: 0 }, behave: 'hang' });
    const started = Date.now();
    const line = await grpcFails({ grpc: address }, { [TIMEOUT_VARIABLE]: String(SHORT_TIMEOUT_MS) });
    assert.ok(Date.now() - started < 10_000, 'the deadline was not applied');
    assert.ok(line.includes(`gRPC ${address}: gave no reply within ${SHORT_TIMEOUT_MS} ms`), line);
  });

  it('gRPC reply that is not JSON', async () => {
    const address = await grpcProvider({ listen: { port: 0 }, behave: 'garbage' });
    assert.match(await grpcFails({ grpc: address }), /reply is not JSON \(\d+ bytes\)/);
  });

  it('gRPC over TLS, server certificate not trusted (host roots only)', async () => {
    const line = await grpcFails({ grpc: tlsAddress, 'grpc-tls': { 'cert-file': tls.clientCert, 'key-file': tls.clientKey } });
    assert.ok(line.includes(`gRPC ${tlsAddress} (TLS): TLS handshake failed (`), line);

  });

  it('gRPC over TLS without the client certificate the server requires', async () => {
    const line = await grpcFails({ grpc: tlsAddress, 'grpc-tls': { 'root-ca-file': tls.caCert } });
    assert.ok(line.includes(`gRPC ${tlsAddress} (TLS): TLS handshake failed (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)`), line);
  });

  it('gRPC plaintext to a TLS server', async () => {
    const line = await grpcFails({ grpc: tlsAddress });
    assert.match(line, new RegExp(`gRPC ${tlsAddress}: the call failed \\((connection closed without a reply|ECONNRESET)\\)`));
  });
});

describe('configuration', () => {
  it('the provider the layer names is not configured: ERR_NO_KEY_SUPPLIED naming it and the file', async () => {
    const config = writeConfig({ 'test-grpc': { grpc: unixAddress } });
    const line = assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_NO_KEY_SUPPLIED', COMMAND_LAYER);
    assert.ok(line.includes(`provider.test-command: key provider "test-command" is not configured in ${config} (it configures "test-grpc")`), line);
  });

  it('the config file does not exist: ERR_NO_KEY_SUPPLIED naming the file', async () => {
    const config = join(dir, 'absent', 'ocicrypt_keyprovider.conf');
    const line = assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_NO_KEY_SUPPLIED', COMMAND_LAYER);
    assert.ok(line.includes(`key provider "test-command" is not configured: ${config} does not exist`), line);
  });

  it('OCICRYPT_KEYPROVIDER_CONFIG is not set: ERR_NO_KEY_SUPPLIED naming the variable', async () => {
    const line = assertFails(await decrypt(COMMAND_LAYER, { config: null }), 'ERR_NO_KEY_SUPPLIED', COMMAND_LAYER);
    assert.ok(line.includes('key provider "test-command" is not configured: OCICRYPT_KEYPROVIDER_CONFIG is not set'), line);
  });

  it('a config file that is not JSON: ERR_KEYPROVIDER_CONFIG', async () => {
    const config = join(dir, 'broken.conf');
    writeFileSync(config, '{"key-providers": {"test-command": ');
    const line = assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_KEYPROVIDER_CONFIG', COMMAND_LAYER);
    assert.ok(line.includes(`key-provider config ${config}: the file is not valid JSON`), line);
  });

  it('a config entry of the wrong type: ERR_KEYPROVIDER_CONFIG with its path', async () => {
    const config = writeConfig({ 'test-command': { cmd: { path: process.execPath, args: 'not-a-list' } } });
    const line = assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_KEYPROVIDER_CONFIG', COMMAND_LAYER);
    assert.ok(line.includes('.key-providers["test-command"].cmd.args must be an array of strings'), line);
  });

  it('an entry with neither cmd nor grpc fails only the layers that need it', async () => {
    const config = writeConfig({ 'test-command': { path: '/usr/bin/provider' }, 'test-grpc': { grpc: unixAddress } });
    const line = assertFails(await decrypt(COMMAND_LAYER, { config }), 'ERR_KEYPROVIDER_CONFIG', COMMAND_LAYER);
    assert.ok(line.includes('.key-providers["test-command"] has neither "cmd" nor "grpc"'), line);
    assertDecrypted(await decrypt(GRPC_LAYER, { config }), GRPC_LAYER);
  });

  it('a gRPC address that is not one: ERR_KEYPROVIDER_CONFIG', async () => {
    const config = writeConfig({ 'test-grpc': { grpc: 'http://localhost' } });
    const line = assertFails(await decrypt(GRPC_LAYER, { config }), 'ERR_KEYPROVIDER_CONFIG', GRPC_LAYER);
    assert.match(line, /key-provider gRPC address "http:\/\/localhost" is not usable/);
  });

  it('a grpc-tls file that cannot be read: ERR_KEYPROVIDER_CONFIG', async () => {
    const missing = join(dir, 'no-ca.pem');
    const config = writeConfig({ 'test-grpc': { grpc: tlsAddress, 'grpc-tls': tlsSettings({ 'root-ca-file': missing }) } });
    const line = assertFails(await decrypt(GRPC_LAYER, { config }), 'ERR_KEYPROVIDER_CONFIG', GRPC_LAYER);
    assert.ok(line.includes(`cannot read grpc-tls root-ca-file ${missing} (ENOENT)`), line);
  });

  for (const [what, settings, setting] of [
    ['a cert-file that is no certificate', { 'cert-file': 'garbage' }, 'cert-file'],
    ['a key-file that is no key', { 'key-file': 'garbage' }, 'key-file'],
    ['a key-file that is not the client certificate\'s', { 'key-file': 'server-key' }, 'key-file'],
    ['a root-ca-file that holds no certificate', { 'root-ca-file': 'garbage' }, 'root-ca-file'],
  ] as const) {
    it(`${what}: ERR_KEYPROVIDER_CONFIG naming it, at once`, async () => {
      const garbage = join(dir, 'garbage.pem');
      writeFileSync(garbage, 'not PEM at all\n');
      const serverKey = join(dir, 'server-key.pem');
      writeFileSync(serverKey, tls.serverKey);
      const files = Object.fromEntries(Object.entries(settings).map(([name, which]) => [name, which === 'garbage' ? garbage : serverKey]));
      const config = writeConfig({ 'test-grpc': { grpc: tlsAddress, 'grpc-tls': tlsSettings(files) } });
      const started = Date.now();
      const line = assertFails(await decrypt(GRPC_LAYER, { config }), 'ERR_KEYPROVIDER_CONFIG', GRPC_LAYER);
      assert.ok(Date.now() - started < 10_000, 'the decoder waited for the provider timeout');
      assert.match(line, new RegExp(`: grpc-tls ${setting} ${Object.values(files)[0]} is not usable \\((ERR_OSSL_[A-Z0-9_]+|no PEM certificate)\\) — fix the grpc-tls paths or files`));
    });
  }

  it(`${TIMEOUT_VARIABLE} that is not a number: ERR_KEYPROVIDER_CONFIG`, async () => {
    const config = writeConfig({ 'test-command': commandProvider() });
    const run = await decrypt(COMMAND_LAYER, { config, env: { [TIMEOUT_VARIABLE]: '30s' } });
    assert.match(assertFails(run, 'ERR_KEYPROVIDER_CONFIG', COMMAND_LAYER), /CTD_DECODER_KEYPROVIDER_TIMEOUT_MS must be whole milliseconds/);
  });
});

describe('a provider name from the image is untrusted text', () => {
  const renamed = (name: string): LayerCase => {
    const annotations = Object.fromEntries(
      Object.entries(COMMAND_LAYER.descriptor.annotations).map(([key, value]) =>
        key.endsWith('.keys.provider.test-command') ? [`org.opencontainers.image.enc.keys.provider.${name}`, value] : [key, value],
      ),
    );
    return { ...COMMAND_LAYER, descriptor: { ...COMMAND_LAYER.descriptor, annotations } };
  };

  it('terminal escapes in it: one clean line, the name quoted', async () => {
    const layer = renamed('x\u001b[2J\u001b[31mFAKE\r\nctd-decoder: forged\u2028line');
    const line = assertFails(await decrypt(layer, { config: writeConfig({ 'test-command': commandProvider() }) }), 'ERR_NO_KEY_SUPPLIED', layer);
    assert.doesNotMatch(line, /[\p{Cc}\p{Zl}\p{Zp}]/u);
    assert.ok(line.includes('key provider "x\\u001b[2J\\u001b[31mFAKE\\r\\nctd-decoder: forged\\u2028line" is not configured'), line);
  });

  it('a name of 100 000 characters: the line is cut', async () => {
    const layer = renamed('p'.repeat(100_000));
    const line = assertFails(await decrypt(layer, { config: null }), 'ERR_NO_KEY_SUPPLIED', layer);
    assert.ok(line.length <= 2001, `${line.length} characters`);
  });
});

describe('only layers wrapped for a provider touch provider configuration or code', () => {
  it('a JWE layer decrypts with OCICRYPT_KEYPROVIDER_CONFIG naming a broken file: the file is never read', async () => {
    const config = join(dir, 'never-read.conf');
    writeFileSync(config, 'this is not JSON');
    const run = await decrypt(JWE_LAYER, { config, keysDirectory: keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem') });
    assertDecrypted(run, JWE_LAYER);
  });

  // The single executable honours NODE_OPTIONS, so a --require hook can list
  // the runtime modules a run loaded.
  const loadedRuntimeModules = async (layer: LayerCase, options: DecryptOptions): Promise<string[]> => {
    const list = join(dir, `modules-${layer.name}.txt`);
    const hook = join(dir, 'list-modules.cjs');
    writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`);
    const run = await decrypt(layer, { ...options, env: { NODE_OPTIONS: `--require ${hook}` } });
    assertDecrypted(run, layer);
    return readFileSync(list, 'utf8').split('\n');
  };

  it('a JWE-only run loads neither child_process nor http2', async () => {
    const config = writeConfig({ 'test-command': commandProvider(), 'test-grpc': { grpc: unixAddress } });
    const modules = await loadedRuntimeModules(JWE_LAYER, { config, keysDirectory: keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem') });
    assert.deepEqual(modules.filter((name) => /\b(child_process|http2)\b/.test(name)), []);
  });

  it('a command provider run loads child_process, not http2', async () => {
    const modules = await loadedRuntimeModules(COMMAND_LAYER, { config: writeConfig({ 'test-command': commandProvider() }) });
    assert.ok(modules.includes('NativeModule child_process'));
    assert.deepEqual(modules.filter((name) => /\bhttp2\b/.test(name)), []);
  });
});

/** Gone or a zombie (killed, not yet reaped by whoever inherited it). */
async function assertProcessGone(pid: number): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2];
    } catch {
      return;
    }
    if (state === 'Z') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`process ${pid} is still running`);
}
