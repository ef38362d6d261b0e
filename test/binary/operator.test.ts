// The operator subcommands of the built binary (keys, inspect, decrypt,
// doctor) on skopeo-made images (test/fixtures/oci) and real configs.
// decrypt's output is checked against the source images and by skopeo itself
// (skipped where skopeo is missing, except in CI).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_LINE } from '../support/fixtures.ts';
import { DECODER_BIN, FIXTURES } from '../support/paths.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const OCI = join(FIXTURES, 'oci');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const result = spawnSync(DECODER_BIN, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertError(result: Run, code: string, exitCode = 1): void {
  assert.equal(result.code, exitCode, result.stderr);
  assert.equal(ERROR_LINE.exec(result.stderr)?.[1], code, result.stderr);
}

/** A private copy of the fixture keys, as a keys directory must be (0700, files 0600). */
function keys(...names: string[]): string {
  const dir = temporaryDirectory('ctd-decoder-keys-');
  chmodSync(dir, 0o700);
  for (const name of names) {
    cpSync(join(OCI, 'keys', name), join(dir, name));
    chmodSync(join(dir, name), 0o600);
  }
  return dir;
}

function skopeoAvailable(): boolean {
  const found = spawnSync('skopeo', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!found && process.env['CI'] === 'true') throw new Error('skopeo is missing (apt-get install skopeo); CI must run these tests');
  return found;
}

const plainLayers = (name: string) => JSON.parse(readFileSync(join(OCI, 'plain', `${name}.json`), 'utf8')).layers.map(({ mediaType, digest, size }: Record<string, unknown>) => ({ mediaType, digest, size }));

function manifestOf(layout: string, tag: string): { layers: Record<string, unknown>[] } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', entry.digest.slice('sha256:'.length)), 'utf8'));
}

describe('subcommand dispatch', () => {
  it('--help lists the subcommands; each has its own --help', () => {
    assert.match(run(['--help']).stdout, /ctd-decoder doctor \[--config FILE\]/);
    for (const name of ['keys', 'inspect', 'decrypt', 'doctor']) {
      const result = run([name, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Usage: ctd-decoder ${name}`));
    }
  });

  it('a bad subcommand option is a usage error (exit 2); other words stay the decoder\'s', () => {
    assertError(run(['keys', '--bogus']), 'ERR_USAGE', 2);
    assertError(run(['inspect']), 'ERR_USAGE', 2);
    assertError(run(['nonsense']), 'ERR_USAGE', 1);
  });
});

describe('ctd-decoder keys', () => {
  it('lists each key with what it is, its schemes and fingerprint', () => {
    const dir = keys('rsa2048.pem', 'ec256.pem');
    writeFileSync(join(dir, 'notes.txt'), 'rotated 2026-11\n', { mode: 0o600 });
    const result = run(['keys', dir]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /: 2 usable keys in 3 files$/);
    assert.match(lines[1]!, /^FILE +USE +WHAT +SCHEMES +FINGERPRINT$/);
    assert.ok(lines.some((line) => /^ec256\.pem +key +EC P-256 private key +jwe\S* +sha256:[0-9a-f]{16}$/.test(line)), result.stdout);
    assert.ok(lines.some((line) => /^notes\.txt +unusable +not a private key/.test(line)), result.stdout);
  });

  it('--json carries the same, without key material', () => {
    const result = run(['keys', '--json', keys('rsa2048.pem')]);
    const listing = JSON.parse(result.stdout);
    assert.equal(listing.usableKeys, 1);
    assert.equal(listing.files[0].path, 'rsa2048.pem');
    assert.match(listing.files[0].fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.ok(!('keys' in listing.files[0]));
    assert.ok(!result.stdout.includes('PRIVATE KEY'));
  });

  it('exits 1 when no usable key is found', () => {
    const result = run(['keys', temporaryDirectory()]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /0 usable keys/);
  });
});

describe('ctd-decoder inspect', () => {
  it('shows each layer of each image in a layout, with JWE recipients', () => {
    const result = run(['inspect', join(OCI, 'layout')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /manifest sha256:[0-9a-f]{12}  ref partly\n  layer 1 +sha256:[0-9a-f]{12} +application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip +\S+ B +not encrypted\n/);
    assert.match(result.stdout, /ref two\n  layer 1 .*tar\+gzip\+encrypted .* encrypted\n +jwe +RSA-OAEP; ECDH-ES\+A256KW P-256\n +cipher +AES_256_CTR_HMAC_SHA256\n/);
    assert.match(result.stdout, /ref tar\n  layer 1 .*v1\.tar\+encrypted/);
  });

  it('names the keys that open each layer (an OCI archive here)', () => {
    const result = run(['inspect', '--decryption-keys-path', keys('rsa2048.pem', 'ec256.pem', 'other-rsa2048.pem'), join(OCI, 'two.tar')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\(OCI archive, 3 usable keys to try\)/);
    assert.equal(result.stdout.match(/opens with +ec256\.pem, rsa2048\.pem\n/g)?.length, 2, result.stdout);
  });

  it('exits 1 when a layer opens with none of the keys', () => {
    const result = run(['inspect', '--decryption-keys-path', keys('other-rsa2048.pem'), join(OCI, 'layout')]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /opens with +none of the keys/);
  });

  it('reads a manifest file and a lone descriptor file', () => {
    const manifest = run(['inspect', join(OCI, 'plain', 'base.json')]);
    assert.equal(manifest.code, 0, manifest.stderr);
    assert.equal(manifest.stdout.match(/not encrypted/g)?.length, 2);
    const descriptor = run(['inspect', '--json', join(FIXTURES, 'jwe', 'layers', 'two-zstd', 'descriptor.json')]);
    const report = JSON.parse(descriptor.stdout);
    assert.equal(report.kind, 'document');
    assert.deepEqual(report.manifests[0].layers[0].schemes[0].recipients, ['RSA-OAEP', 'ECDH-ES+A256KW P-256']);
  });

  it('runs no key provider, and does not count their layers as unopened', () => {
    const result = run(['inspect', '--decryption-keys-path', keys('rsa2048.pem'), join(FIXTURES, 'provider', 'layers', 'both-gzip', 'descriptor.json')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /provider\.test-command +1 wrapped key \(a key provider: not run by inspect\)/);
    assert.doesNotMatch(result.stdout, /opens with/);
  });

  it('says what is wrong with something that is no image', () => {
    assertError(run(['inspect', '/nonexistent']), 'ERR_IMAGE');
    assertError(run(['inspect', join(FIXTURES, 'oci', 'keys')]), 'ERR_IMAGE');
  });

  it('refuses an index.json of 3 GiB without reading it (a sparse file)', () => {
    const layout = temporaryDirectory();
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), '{');
    truncateSync(join(layout, 'index.json'), 3 * 1024 * 1024 * 1024);
    for (const command of [['inspect', layout], ['decrypt', '--decryption-keys-path', keys(), layout, join(temporaryDirectory(), 'out')]]) {
      const result = run(command);
      assertError(result, 'ERR_IMAGE');
      assert.match(result.stderr, /index\.json is larger than 4194304 bytes, too large for an index or manifest/);
    }
  });

  it('shows image text without its terminal escapes', () => {
    const layout = temporaryDirectory();
    cpSync(join(OCI, 'layout'), layout, { recursive: true });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    index.manifests[0].annotations = { 'org.opencontainers.image.ref.name': 'evil\u001b[2J\u009b31mref' };
    index.manifests[0].platform = { os: 'linux\u001b]0;title\u0007', architecture: 'amd64' };
    writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    const result = run(['inspect', layout]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    assert.match(result.stdout, /ref evil \[2J 31mref {2}linux ]0;title \/amd64/);
  });
});

describe('ctd-decoder decrypt', () => {
  const skopeo = skopeoAvailable();
  const policy = () => {
    const file = join(temporaryDirectory(), 'policy.json');
    writeFileSync(file, '{"default":[{"type":"insecureAcceptAnything"}]}\n');
    return file;
  };

  it('decrypts every image of a layout into layers identical to the sources', () => {
    const destination = join(temporaryDirectory(), 'plain');
    const result = run(['decrypt', '--decryption-keys-path', keys('rsa2048.pem'), join(OCI, 'layout'), destination]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /: 5 layers decrypted, 2 other blobs copied, 3 manifests\n$/);
    for (const [tag, plain] of [['partly', 'base'], ['two', 'base'], ['tar', 'tar']] as const) {
      const layers = manifestOf(destination, tag).layers;
      assert.deepEqual(layers, plainLayers(plain), tag);
    }
    assert.equal(readFileSync(join(destination, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}\n');
    const inspected = run(['inspect', destination]);
    assert.doesNotMatch(inspected.stdout, / {2}encrypted$/m);
  });

  it('skopeo reads and copies the decrypted layout', { skip: skopeo ? false : 'skopeo is not installed' }, () => {
    const destination = join(temporaryDirectory(), 'plain');
    assert.equal(run(['decrypt', '--decryption-keys-path', keys('ec256.pem'), join(OCI, 'two.tar'), destination]).code, 0);
    const inspected = JSON.parse(execFileSync('skopeo', ['--policy', policy(), 'inspect', `oci:${destination}:two`], { encoding: 'utf8' }));
    assert.deepEqual(inspected.Layers, plainLayers('base').map((layer: { digest: string }) => layer.digest));
    const copy = join(temporaryDirectory(), 'copy');
    execFileSync('skopeo', ['--policy', policy(), 'copy', '-q', `oci:${destination}:two`, `oci:${copy}:two`]);
    assert.deepEqual(manifestOf(copy, 'two').layers.map((layer) => layer['digest']), plainLayers('base').map((layer: { digest: string }) => layer.digest));
  });

  it('fails whole, with the layer named, when no key fits: nothing is left behind', () => {
    const parent = temporaryDirectory();
    const result = run(['decrypt', '--decryption-keys-path', keys('other-rsa2048.pem'), join(OCI, 'layout'), join(parent, 'plain')]);
    assertError(result, 'ERR_NO_MATCHING_KEY');
    assert.match(result.stderr, / layer sha256:[0-9a-f]{64}: /);
    assert.deepEqual(readdirSync(parent), []);
  });

  it('refuses an existing destination', () => {
    const destination = temporaryDirectory();
    writeFileSync(join(destination, 'x'), '');
    assertError(run(['decrypt', '--decryption-keys-path', keys('rsa2048.pem'), join(OCI, 'layout'), destination]), 'ERR_DESTINATION');
  });

  it('a tampered encrypted blob fails authentication; a missing blob is named', () => {
    const layout = join(temporaryDirectory(), 'layout');
    cpSync(join(OCI, 'layout'), layout, { recursive: true });
    const encrypted = manifestOf(layout, 'partly').layers[1]!['digest'] as string;
    const blob = join(layout, 'blobs', 'sha256', encrypted.slice('sha256:'.length));
    const bytes = readFileSync(blob);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(blob, bytes);
    assertError(run(['decrypt', '--decryption-keys-path', keys('rsa2048.pem'), layout, join(dirname(layout), 'out1')]), 'ERR_INTEGRITY');
    execFileSync('rm', [blob]);
    const missing = run(['decrypt', '--decryption-keys-path', keys('rsa2048.pem'), layout, join(dirname(layout), 'out2')]);
    assertError(missing, 'ERR_IMAGE');
    assert.match(missing.stderr, new RegExp(`has no blob ${encrypted}`));
    assert.ok(!existsSync(join(dirname(layout), 'out1')) && !existsSync(join(dirname(layout), 'out2')));
  });

  it('shows progress for a large layer on a terminal', { skip: spawnSync('script', ['--version']).status === 0 ? false : 'script(1) is not installed' }, () => {
    const destination = join(temporaryDirectory(), 'plain');
    const command = [DECODER_BIN, 'decrypt', '--decryption-keys-path', keys('rsa2048.pem'), join(OCI, 'large'), destination].map((arg) => `'${arg}'`).join(' ');
    const output = execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '100' } });
    assert.match(output, /\r\x1b\[Kdecrypting sha256:[0-9a-f]{12} \[#+\.*\] +\d+%/);
    assert.match(output, /decrypted sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12} +application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip +1\.1 MiB/);
    assert.deepEqual(manifestOf(destination, 'large').layers, plainLayers('large'));
  });
});

describe('ctd-decoder doctor', () => {
  /** A config like config-examples', pointing at the binary under test and a private keys directory. */
  function setup(processors: string): { config: string; keysDirectory: string } {
    const root = temporaryDirectory('ctd-decoder-doctor-');
    const keysDirectory = join(root, 'keys');
    mkdirSync(keysDirectory, { mode: 0o700 });
    cpSync(join(OCI, 'keys', 'rsa2048.pem'), join(keysDirectory, 'rsa2048.pem'));
    chmodSync(join(keysDirectory, 'rsa2048.pem'), 0o600);
    const config = join(root, 'config.toml');
    const example = readFileSync(join(FIXTURES, '..', '..', 'config-examples', 'processors-tar-gzip-zstd.toml'), 'utf8');
    writeFileSync(
      config,
      `version = 2\n${processors || example}`.replaceAll('/usr/local/bin/ctd-decoder', DECODER_BIN).replaceAll('/etc/containerd/ocicrypt/keys', keysDirectory),
    );
    return { config, keysDirectory };
  }

  it('passes a good config: one line per finding, exit 0', () => {
    const { config } = setup('');
    const result = run(['doctor', '--config', config]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^ok +processor +io\\.containerd\\.ocicrypt\\.decoder\\.v1\\.tar\\.gzip: ${DECODER_BIN.replace(/[.]/g, '\\.')}: ctd-decoder \\S+$`, 'm'));
    assert.match(result.stdout, /^ok +keys +\S+: 1 usable key \(jwe 1/m);
    assert.match(result.stdout, /^doctor: 0 problems, \d+ warnings?\n$/m);
  });

  it('a zstd processor of its own: payload-less mode (info); with --require-payload a problem with its fix, exit 1', () => {
    const zstd = (extraArgs: string) => `
[stream_processors."io.containerd.ocicrypt.decoder.v1.tar.zstd"]
  accepts = ["application/vnd.oci.image.layer.v1.tar+zstd+encrypted"]
  returns = "application/vnd.oci.image.layer.v1.tar+zstd"
  path = "/usr/local/bin/ctd-decoder"
  args = ["--decryption-keys-path", "/etc/containerd/ocicrypt/keys"${extraArgs}]
`;
    const lookup = run(['doctor', '--config', setup(zstd('')).config]);
    assert.match(lookup.stdout, /^info +processor +io\.containerd\.ocicrypt\.decoder\.v1\.tar\.zstd: a zstd processor gets no decryption payload.*; payload-less mode: the decoder finds each layer's descriptor in containerd's content store$/m);
    assert.doesNotMatch(lookup.stdout, /^PROBLEM +processor +io\.containerd\.ocicrypt\.decoder\.v1\.tar\.zstd/m);
    const strict = run(['doctor', '--config', setup(zstd(', "--require-payload"')).config]);
    assert.equal(strict.code, 1);
    assert.match(strict.stdout, /^PROBLEM +processor +io\.containerd\.ocicrypt\.decoder\.v1\.tar\.zstd: a zstd processor gets no decryption payload.*--require-payload refuses that \(ERR_NO_PAYLOAD\) — fix: drop --require-payload/m);
  });

  it('--json gives the findings', () => {
    const { config } = setup('');
    const report = JSON.parse(run(['doctor', '--json', '--config', config]).stdout);
    assert.equal(report.config, config);
    assert.ok(report.findings.every((finding: { level: string }) => ['ok', 'info', 'warning'].includes(finding.level)));
  });

  it('rootless: reads ~/.config/containerd/config.toml and maps /etc/containerd there', () => {
    const home = temporaryDirectory('ctd-decoder-home-');
    const configDirectory = join(home, '.config', 'containerd');
    mkdirSync(join(configDirectory, 'ocicrypt', 'keys'), { recursive: true, mode: 0o700 });
    cpSync(join(OCI, 'keys', 'ec256.pem'), join(configDirectory, 'ocicrypt', 'keys', 'ec256.pem'));
    chmodSync(join(configDirectory, 'ocicrypt', 'keys', 'ec256.pem'), 0o600);
    writeFileSync(
      join(configDirectory, 'config.toml'),
      readFileSync(join(FIXTURES, '..', '..', 'config-examples', 'containerd-rootless-config.toml'), 'utf8').replaceAll('/usr/local/bin/ctd-decoder', DECODER_BIN),
    );
    const result = run(['doctor', '--rootless'], { ...process.env, HOME: home, XDG_CONFIG_HOME: '' });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`rootless: containerd sees ${configDirectory} as /etc/containerd`));
    assert.match(result.stdout, new RegExp(`^ok +keys +/etc/containerd/ocicrypt/keys \\(${configDirectory}/ocicrypt/keys on the host\\): 1 usable key`, 'm'));
  });

  it('an explicit config that does not exist is a usage error', () => {
    assertError(run(['doctor', '--config', '/nonexistent/config.toml']), 'ERR_USAGE', 2);
  });

  it('a FIFO given as the config is refused at once, not waited on (nothing writes to it)', () => {
    const fifo = join(temporaryDirectory(), 'config.toml');
    execFileSync('mkfifo', [fifo]);
    const result = run(['doctor', '--config', fifo]);
    assertError(result, 'ERR_USAGE', 2);
    assert.match(result.stderr, /doctor: cannot read .*config\.toml \(not a regular file\)/);
  });
});
