// What `ctd-decoder` loads for a containerd call (docs/architecture.md, "What
// a decode loads"): the modules every start evaluates, read from the bundle's
// import graph, and those a JWE layer initialises, observed at run time.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { FIXTURES, keysDirectoryWith } from '../support/fixtures.ts';
import { bundleForAnalysis, notForJwe, observeDecode, staticModules, type AnalysisBundle } from '../support/loaded-modules.ts';
import { encodePayload } from '../support/payload.ts';
import { temporaryDirectory } from '../support/temporary.ts';

/** A fixture layer as containerd hands it over: blob.enc for stdin, payload.bin for fd 3. */
function layerDirectory(scheme: string, name: string): string {
  const source = join(FIXTURES, scheme, 'layers', name);
  const dir = temporaryDirectory('ctd-decoder-layer-');
  copyFileSync(join(source, 'blob.enc'), join(dir, 'blob.enc'));
  writeFileSync(join(dir, 'payload.bin'), encodePayload(JSON.parse(readFileSync(join(source, 'descriptor.json'), 'utf8'))));
  return dir;
}

describe('what a decode loads', () => {
  let analysis: AnalysisBundle;
  before(() => {
    analysis = bundleForAnalysis(temporaryDirectory('ctd-decoder-bundle-'));
  });

  it('every start evaluates the decode path only: no operator command, no npm package, no key-wrap scheme (only their shared interface and budget)', () => {
    const modules = staticModules(analysis.metafile);
    assert.ok(modules.includes('src/decode/decode-command.ts'), modules.join(' '));
    assert.deepEqual(notForJwe(modules), []);
    assert.deepEqual(modules.filter((path) => path.startsWith('node_modules/')), []);
    assert.deepEqual(modules.filter((path) => /^src\/keywrap\/(?!scheme\.ts$|annotations\.ts$|operation-budget\.ts$)/.test(path)), []);
  });

  it('a JWE layer initialises jose and the JWE scheme, nothing of the other schemes, their hosts or the operator tree', () => {
    const observed = observeDecode(analysis.bundle, layerDirectory('jwe', 'rsa2048-gzip'), keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem'));
    assert.ok(observed.lazyModules.includes('src/keywrap/jwe.ts'), observed.lazyModules.join(' '));
    assert.deepEqual(observed.packages, ['jose']);
    assert.deepEqual(notForJwe([...observed.lazyModules, ...observed.builtins]), []);
    // With a payload, the content-store lookup (issue 15) is never loaded.
    assert.deepEqual(observed.lazyModules.filter((path) => /without-payload|content-store|containerd-leases/.test(path)), []);
  });

  it('the observation sees another scheme when one runs: a PKCS#7 layer loads src/keywrap/pkcs7', () => {
    const observed = observeDecode(analysis.bundle, layerDirectory('pkcs7', 'rsa2048-gzip'), keysDirectoryWith('pkcs7', 'rsa2048.key.pem'));
    assert.ok(notForJwe(observed.lazyModules).some((path) => path.startsWith('src/keywrap/pkcs7')), observed.lazyModules.join(' '));
  });
});
