// The release packages (packaging/build-packages.sh, run by `make package`),
// built from the binary under test: the .deb is installed into a private root
// with dpkg, the tarball unpacked, and each installed binary decrypts a
// skopeo-made layer the way containerd runs it. Skipped where dpkg is missing,
// except in CI.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { encodePayload } from '../support/payload.ts';
import { DECODER_BIN, FIXTURES, REPO_ROOT } from '../support/paths.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const VERSION = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
const LAYER = join(FIXTURES, 'jwe', 'layers', 'rsa2048-gzip');
const KEY = join(FIXTURES, 'jwe', 'keys', 'rsa2048.pkcs8.pem');

function dpkgAvailable(): boolean {
  const found = spawnSync('dpkg-deb', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!found && process.env['CI'] === 'true') throw new Error('dpkg-deb is missing; CI must run the package tests');
  return found;
}

/** Runs an installed binary as containerd does: layer on stdin, payload on fd 3. */
function decryptWith(binary: string, keysDirectory: string): Buffer {
  const payloadFile = join(temporaryDirectory(), 'payload');
  writeFileSync(payloadFile, encodePayload(JSON.parse(readFileSync(join(LAYER, 'descriptor.json'), 'utf8'))));
  const payload = openSync(payloadFile, 'r');
  try {
    const result = spawnSync(binary, ['--decryption-keys-path', keysDirectory], {
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

describe('release packages', { skip: dpkgAvailable() ? false : 'dpkg-deb is not installed' }, () => {
  const output = temporaryDirectory('ctd-decoder-packages-');
  const deb = join(output, `ctd-decoder_${VERSION}_amd64.deb`);
  const tarball = join(output, `ctd-decoder-${VERSION}-linux-x64.tar.gz`);

  before(() => {
    execFileSync('bash', [join(REPO_ROOT, 'packaging', 'build-packages.sh')], { env: { ...process.env, BINARY: DECODER_BIN, OUTPUT_DIR: output }, stdio: 'pipe' });
  });

  it('the .deb holds the binary, man page, examples, license and the keys directory (0700), and no conffile', () => {
    const listing = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    for (const path of [
      './usr/bin/ctd-decoder',
      './usr/share/man/man1/ctd-decoder.1.gz',
      './usr/share/doc/ctd-decoder/copyright',
      './usr/share/doc/ctd-decoder/THIRD-PARTY-NOTICES',
      './usr/share/doc/ctd-decoder/examples/containerd-2-config.toml',
    ]) {
      assert.match(listing, new RegExp(` ${path.replace(/[.+]/g, '\\$&')}$`, 'm'), path);
    }
    assert.match(listing, /^drwx------ root\/root +0 \S+ \S+ \.\/etc\/containerd\/ocicrypt\/keys\/$/m);
    assert.deepEqual(listing.split('\n').filter((line) => / \.\/etc\/.*[^/]$/.test(line)), [], 'no file under /etc');
    const control = execFileSync('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Architecture'], { encoding: 'utf8' });
    assert.equal(control, `Package: ctd-decoder\nVersion: ${VERSION}\nArchitecture: amd64\n`);
    const members = execFileSync('tar', ['-t'], { input: execFileSync('dpkg-deb', ['--ctrl-tarfile', deb]), encoding: 'utf8' });
    assert.deepEqual(members.split('\n').filter(Boolean).sort(), ['./', './control', './md5sums']);
  });

  it('installs with dpkg into a private root, decrypts, and keeps the keys on purge', () => {
    const root = temporaryDirectory('ctd-decoder-root-');
    mkdirSync(join(root, 'var', 'lib', 'dpkg', 'info'), { recursive: true });
    mkdirSync(join(root, 'var', 'lib', 'dpkg', 'updates'));
    writeFileSync(join(root, 'var', 'lib', 'dpkg', 'status'), '');
    // The private root has no libc6 package registered: dependencies are the host's.
    const dpkg = (...args: string[]) => execFileSync('dpkg', [`--root=${root}`, '--log=/dev/null', '--force-depends', ...args], { stdio: 'pipe' });
    dpkg('--install', deb);
    const binary = join(root, 'usr', 'bin', 'ctd-decoder');
    assert.equal(execFileSync(binary, ['--version'], { encoding: 'utf8' }), `ctd-decoder ${VERSION}\n`);
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
    const top = `ctd-decoder-${VERSION}-linux-x64/`;
    for (const path of ['bin/ctd-decoder', 'share/man/man1/ctd-decoder.1', 'share/doc/ctd-decoder/LICENSE', 'share/doc/ctd-decoder/THIRD-PARTY-NOTICES', 'share/doc/ctd-decoder/examples/nerdctl.toml']) {
      assert.ok(names.includes(top + path), path);
    }
    const unpacked = temporaryDirectory();
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
    const binary = join(unpacked, top, 'bin', 'ctd-decoder');
    assert.ok(decryptWith(binary, keysDirectory()).equals(readFileSync(join(LAYER, 'blob.plain'))));
  });

  it('the notices name every bundled package and Node.js', () => {
    const bundled = Object.keys(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).dependencies);
    const text = execFileSync('bash', [join(REPO_ROOT, 'packaging', 'third-party-notices.sh')], { encoding: 'utf8' });
    for (const name of bundled) assert.match(text, new RegExp(`^${name} \\d+\\.\\d+\\.\\d+ \\(`, 'm'), name);
    assert.match(text, /^Node\.js 24\.\d+\.\d+ \(the runtime/m);
  });
});

describe('make install layout (packaging/install-files.sh)', () => {
  it('installs under DESTDIR/PREFIX only', () => {
    const destination = temporaryDirectory('ctd-decoder-install-');
    execFileSync('bash', [join(REPO_ROOT, 'packaging', 'install-files.sh')], { env: { ...process.env, DESTDIR: destination, PREFIX: '/opt/ctd', BINARY: DECODER_BIN } });
    assert.deepEqual(readdirSync(destination), ['opt']);
    assert.equal(statSync(join(destination, 'opt', 'ctd', 'bin', 'ctd-decoder')).mode & 0o777, 0o755);
    assert.ok(existsSync(join(destination, 'opt', 'ctd', 'share', 'man', 'man1', 'ctd-decoder.1')));
    assert.deepEqual(readdirSync(join(destination, 'opt', 'ctd', 'share', 'doc', 'ctd-decoder')).sort(), ['LICENSE', 'README.md', 'THIRD-PARTY-NOTICES', 'docs', 'examples']);
  });
});
