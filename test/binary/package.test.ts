// The release packages (packaging/build-packages.sh, run by `make package`),
// built from the binary under test: the .deb is installed into a private root
// with dpkg, the tarball unpacked, and each installed binary decrypts a
// skopeo-made layer the way containerd runs it; lintian checks the .deb, the
// SBOM and the notices are checked against package-lock.json, and SHA256SUMS
// is signed with a throwaway gpg key. CTD_DECODER_ARCH=arm64 (make test-arm64)
// packages the arm64 binary, run under CTD_DECODER_RUNNER. Skipped where dpkg
// (or lintian) is missing, except in CI.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { encodePayload } from '../support/payload.ts';
import { DECODER_BIN, FIXTURES, REPO_ROOT, decoderCommand } from '../support/paths.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const VERSION = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
const LOCK = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
const RUNTIME_DEPENDENCIES = Object.keys(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).dependencies).sort();
/** Node's name for the architecture of the binary under test, and Debian's. */
const ARCH = process.env['CTD_DECODER_ARCH'] ?? 'x64';
const DEB_ARCH = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[ARCH]!;
const LAYER = join(FIXTURES, 'jwe', 'layers', 'rsa2048-gzip');
const KEY = join(FIXTURES, 'jwe', 'keys', 'rsa2048.pkcs8.pem');

function toolAvailable(tool: string): boolean {
  const found = spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
  if (!found && process.env['CI'] === 'true') throw new Error(`${tool} is missing; CI must run the package tests`);
  return found;
}

/** Runs an installed binary as containerd does: layer on stdin, payload on fd 3. */
function decryptWith(binary: string, keysDirectory: string): Buffer {
  const payloadFile = join(temporaryDirectory(), 'payload');
  writeFileSync(payloadFile, encodePayload(JSON.parse(readFileSync(join(LAYER, 'descriptor.json'), 'utf8'))));
  const payload = openSync(payloadFile, 'r');
  try {
    const result = spawnSync(...decoderCommand(['--decryption-keys-path', keysDirectory], binary), {
      input: readFileSync(join(LAYER, 'blob.enc')),
      stdio: ['pipe', 'pipe', 'pipe', payload],
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(result.status, 0, result.stderr.toString());
    return result.stdout;
  } finally {
    closeSync(payload);
  }
}

function keysDirectory(): string {
  const dir = temporaryDirectory('ctd-decoder-keys-');
  writeFileSync(join(dir, 'key.pem'), readFileSync(KEY), { mode: 0o600 });
  return dir;
}

describe(`release packages (linux-${ARCH})`, { skip: toolAvailable('dpkg-deb') ? false : 'dpkg-deb is not installed' }, () => {
  const output = temporaryDirectory('ctd-decoder-packages-');
  const deb = join(output, `ctd-decoder_${VERSION}_${DEB_ARCH}.deb`);
  const tarball = join(output, `ctd-decoder-${VERSION}-linux-${ARCH}.tar.gz`);
  const sbomFile = join(output, `ctd-decoder-${VERSION}-linux-${ARCH}.cdx.json`);

  before(() => {
    execFileSync('bash', [join(REPO_ROOT, 'packaging', 'build-packages.sh')], { env: { ...process.env, ARCH, BINARY: DECODER_BIN, OUTPUT_DIR: output }, stdio: 'pipe' });
  });

  it('the .deb holds the binary, man page, examples, license and the keys directory (0700), and no conffile', () => {
    const listing = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    for (const path of [
      './usr/bin/ctd-decoder',
      './usr/share/man/man1/ctd-decoder.1.gz',
      './usr/share/doc/ctd-decoder/copyright',
      './usr/share/doc/ctd-decoder/changelog.gz',
      './usr/share/doc/ctd-decoder/THIRD-PARTY-NOTICES',
      './usr/share/doc/ctd-decoder/ctd-decoder.cdx.json',
      './usr/share/lintian/overrides/ctd-decoder',
      './usr/share/doc/ctd-decoder/examples/containerd-2-config.toml',
    ]) {
      assert.match(listing, new RegExp(` ${path.replace(/[.+]/g, '\\$&')}$`, 'm'), path);
    }
    assert.match(listing, /^drwx------ root\/root +0 \S+ \S+ \.\/etc\/containerd\/ocicrypt\/keys\/$/m);
    assert.deepEqual(listing.split('\n').filter((line) => / \.\/etc\/.*[^/]$/.test(line)), [], 'no file under /etc');
    const control = execFileSync('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Architecture'], { encoding: 'utf8' });
    assert.equal(control, `Package: ctd-decoder\nVersion: ${VERSION}\nArchitecture: ${DEB_ARCH}\n`);
    const members = execFileSync('tar', ['-t'], { input: execFileSync('dpkg-deb', ['--ctrl-tarfile', deb]), encoding: 'utf8' });
    assert.deepEqual(members.split('\n').filter(Boolean).sort(), ['./', './control', './md5sums']);
  });

  it('installs with dpkg into a private root, decrypts, and keeps the keys on purge', () => {
    const root = temporaryDirectory('ctd-decoder-root-');
    mkdirSync(join(root, 'var', 'lib', 'dpkg', 'info'), { recursive: true });
    mkdirSync(join(root, 'var', 'lib', 'dpkg', 'updates'));
    writeFileSync(join(root, 'var', 'lib', 'dpkg', 'status'), '');
    // The private root has no libc6 package registered: dependencies are the host's.
    // The arm64 package installs on this x64 machine only when told to (its binary runs under qemu).
    const dpkg = (...args: string[]) => execFileSync('dpkg', [`--root=${root}`, '--log=/dev/null', '--force-depends', '--force-architecture', ...args], { stdio: 'pipe' });
    dpkg('--install', deb);
    const binary = join(root, 'usr', 'bin', 'ctd-decoder');
    assert.equal(execFileSync(...decoderCommand(['--version'], binary), { encoding: 'utf8' }), `ctd-decoder ${VERSION}\n`);
    const keys = join(root, 'etc', 'containerd', 'ocicrypt', 'keys');
    assert.equal(statSync(keys).mode & 0o7777, 0o700);
    writeFileSync(join(keys, 'key.pem'), readFileSync(KEY), { mode: 0o600 });
    assert.ok(decryptWith(binary, keys).equals(readFileSync(join(LAYER, 'blob.plain'))));
    dpkg('--purge', 'ctd-decoder');
    assert.ok(!existsSync(binary));
    assert.deepEqual(readdirSync(keys), ['key.pem']);
  });

  it('the tarball unpacks to bin/, share/man and share/doc, and its binary decrypts', () => {
    const names = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    const top = `ctd-decoder-${VERSION}-linux-${ARCH}/`;
    for (const path of ['bin/ctd-decoder', 'share/man/man1/ctd-decoder.1', 'share/doc/ctd-decoder/LICENSE', 'share/doc/ctd-decoder/THIRD-PARTY-NOTICES', 'share/doc/ctd-decoder/ctd-decoder.cdx.json', 'share/doc/ctd-decoder/examples/nerdctl.toml']) {
      assert.ok(names.includes(top + path), path);
    }
    const unpacked = temporaryDirectory();
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
    const binary = join(unpacked, top, 'bin', 'ctd-decoder');
    assert.ok(decryptWith(binary, keysDirectory()).equals(readFileSync(join(LAYER, 'blob.plain'))));
  });

  it('the notices name every bundled package and Node.js, and say how to rebuild with another openpgp', () => {
    const text = execFileSync('bash', [join(REPO_ROOT, 'packaging', 'third-party-notices.sh')], { encoding: 'utf8', env: { ...process.env, ARCH } });
    for (const name of RUNTIME_DEPENDENCIES) assert.match(text, new RegExp(`^${name} \\d+\\.\\d+\\.\\d+ \\(`, 'm'), name);
    assert.match(text, new RegExp(`^Node\\.js 24\\.\\d+\\.\\d+ \\(the runtime of the single executable, from the npm package node-linux-${ARCH}\\)`, 'm'));
    const openpgp = LOCK.packages['node_modules/openpgp'].version as string;
    assert.match(text, new RegExp(`^ +npm pack openpgp@${openpgp.replace(/\./g, '\\.')} `, 'm'));
    assert.match(text, /^ +make clean build /m);
    assert.match(text, /^ +GNU GENERAL PUBLIC LICENSE\n +Version 3, 29 June 2007$/m, 'LGPL-3.0 builds on the GPL-3.0 text');
    assert.match(text, /derived from the RSA Security Inc\. PKCS #11\s+Cryptographic Token Interface \(Cryptoki\)/);
  });

  it('the .deb copyright file is machine-readable and points at Debian\'s Apache-2.0 text', () => {
    const copyright = execFileSync('tar', ['-xO', './usr/share/doc/ctd-decoder/copyright'], { input: execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 256 * 1024 * 1024 }), encoding: 'utf8' });
    assert.match(copyright, /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/$/m);
    assert.match(copyright, /^Files: \*\nCopyright: \d{4} .+\nLicense: Apache-2\.0$/m);
    assert.match(copyright, /\/usr\/share\/common-licenses\/Apache-2\.0/);
    for (const name of RUNTIME_DEPENDENCIES) assert.match(copyright, new RegExp(`${name} ${LOCK.packages[`node_modules/${name}`].version}`), name);
  });

  it('lintian: every error and warning has an override with its reason', { skip: toolAvailable('lintian') ? false : 'lintian is not installed' }, () => {
    const result = spawnSync('lintian', ['--fail-on', 'none', '--no-tag-display-limit', '--show-overrides', deb], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    assert.equal(result.status, 0, result.stderr);
    const tags = result.stdout.split('\n').filter((line) => /^[EWO]: /.test(line));
    assert.deepEqual(tags.filter((line) => !line.startsWith('O: ')), [], 'errors or warnings without an override');
    // Each override is a deliberate decision, documented in packaging/lintian-overrides; none is stale.
    const overrides = readFileSync(join(REPO_ROOT, 'packaging', 'lintian-overrides'), 'utf8').split('\n').filter((line) => /^ctd-decoder: /.test(line));
    assert.deepEqual(tags.map((line) => line.slice(3)).sort(), overrides.sort());
  });

  it('the SBOM lists the bundled packages with the lock\'s versions, licences and hashes, the Node runtime and the binary', () => {
    const sbom = JSON.parse(readFileSync(sbomFile, 'utf8'));
    assert.equal(sbom.bomFormat, 'CycloneDX');
    assert.equal(sbom.metadata.component.version, VERSION);
    assert.equal(sbom.metadata.component.hashes[0].content, createHash('sha256').update(readFileSync(DECODER_BIN)).digest('hex'));
    const components = new Map<string, { version: string; licenses: { license?: { id: string } }[]; hashes: { alg: string; content: string }[] }>(
      sbom.components.map((component: { name: string }) => [component.name, component]),
    );
    assert.deepEqual([...components.keys()].sort(), [...RUNTIME_DEPENDENCIES, 'node'].sort());
    for (const name of RUNTIME_DEPENDENCIES) {
      const locked = LOCK.packages[`node_modules/${name}`];
      const component = components.get(name)!;
      assert.equal(component.version, locked.version, name);
      assert.equal(component.hashes[0]!.content, Buffer.from(locked.integrity.replace(/^sha512-/, ''), 'base64').toString('hex'), name);
      assert.ok(component.licenses[0]?.license?.id, name);
    }
    assert.equal(components.get('node')!.version, LOCK.packages[`node_modules/node-linux-${ARCH}`].version);
    assert.equal(components.get('openpgp')!.licenses[0]!.license!.id, 'LGPL-3.0-or-later');
  });

  it('--version --verbose names the runtime of this architecture and the bundled packages', () => {
    const text = execFileSync(...decoderCommand(['--version', '--verbose']), { encoding: 'utf8' });
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], `ctd-decoder ${VERSION}`);
    assert.equal(lines[1], `node ${LOCK.packages[`node_modules/node-linux-${ARCH}`].version} linux-${ARCH} MIT (the runtime)`);
    assert.deepEqual(lines.slice(2).map((line) => line.split(' ').slice(0, 2).join(' ')), RUNTIME_DEPENDENCIES.map((name) => `${name} ${LOCK.packages[`node_modules/${name}`].version}`));
  });

  it('SHA256SUMS covers the release files, and is signed when SIGNING_KEY names a gpg key', () => {
    const checksums = join(REPO_ROOT, 'packaging', 'checksums.sh');
    const unsigned = execFileSync('bash', [checksums, output], { encoding: 'utf8', env: { ...process.env, SIGNING_KEY: '' } });
    assert.match(unsigned, /not signed: set SIGNING_KEY/);
    assert.ok(!existsSync(join(output, 'SHA256SUMS.asc')));
    const listed = readFileSync(join(output, 'SHA256SUMS'), 'utf8').trimEnd().split('\n').map((line) => line.split('  ')[1]);
    assert.deepEqual(listed, [basename(sbomFile), basename(tarball), basename(deb)].sort());
    execFileSync('sha256sum', ['--check', '--quiet', 'SHA256SUMS'], { cwd: output });

    // A throwaway key in a private keyring, as a release would use its own.
    const gnupgHome = temporaryDirectory('ctd-decoder-gnupg-');
    const gpg = (...args: string[]) => execFileSync('gpg', ['--homedir', gnupgHome, '--batch', ...args], { encoding: 'utf8', stdio: 'pipe' });
    gpg('--passphrase', '', '--quick-generate-key', 'ctd-decoder release test <release-test@example.org>', 'ed25519', 'sign', '1d');
    const env = { ...process.env, GNUPGHOME: gnupgHome, SIGNING_KEY: 'release-test@example.org' };
    assert.match(execFileSync('bash', [checksums, output], { encoding: 'utf8', env }), /SHA256SUMS\.asc \(signed by release-test@example\.org\)/);
    gpg('--verify', join(output, 'SHA256SUMS.asc'), join(output, 'SHA256SUMS'));
    // Flip the first hex digit to another one (a fixed replacement is a no-op when the digest starts with it).
    writeFileSync(join(output, 'SHA256SUMS'), readFileSync(join(output, 'SHA256SUMS'), 'utf8').replace(/^./, (digit) => (digit === '0' ? '1' : '0')));
    assert.throws(() => gpg('--verify', join(output, 'SHA256SUMS.asc'), join(output, 'SHA256SUMS')), 'a changed SHA256SUMS fails verification');
  });
});

describe('make install layout (packaging/install-files.sh)', () => {
  it('installs under DESTDIR/PREFIX only', () => {
    const destination = temporaryDirectory('ctd-decoder-install-');
    execFileSync('bash', [join(REPO_ROOT, 'packaging', 'install-files.sh')], { env: { ...process.env, DESTDIR: destination, PREFIX: '/opt/ctd', BINARY: DECODER_BIN } });
    assert.deepEqual(readdirSync(destination), ['opt']);
    assert.equal(statSync(join(destination, 'opt', 'ctd', 'bin', 'ctd-decoder')).mode & 0o777, 0o755);
    assert.ok(existsSync(join(destination, 'opt', 'ctd', 'share', 'man', 'man1', 'ctd-decoder.1')));
    const sbom = existsSync(`${DECODER_BIN}.cdx.json`) ? ['ctd-decoder.cdx.json'] : [];
    assert.deepEqual(readdirSync(join(destination, 'opt', 'ctd', 'share', 'doc', 'ctd-decoder')).sort(), ['LICENSE', 'README.md', 'THIRD-PARTY-NOTICES', ...sbom, 'docs', 'examples'].sort());
  });
});
