// The PKCS#11 addon exactly as build-binary.sh embeds it (stripped, in the
// build directory), loaded by the runtime of the binary under test: for arm64
// the cross-compiled addon in the arm64 node under qemu (CTD_DECODER_RUNNER).
// pkcs11.test.ts uses it through a real token (make test-arm64 runs a few cases).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, decoderCommand } from '../support/paths.ts';

const ARCH = process.env['CTD_DECODER_ARCH'] ?? 'x64';
const ADDON = join(REPO_ROOT, ARCH === 'x64' ? 'build' : join('build', ARCH), 'pkcs11.node');
const RUNTIME = join(REPO_ROOT, 'node_modules', `node-linux-${ARCH}`, 'bin', 'node');

describe(`the embedded PKCS#11 addon (linux-${ARCH})`, { skip: existsSync(ADDON) ? false : `${ADDON} is not built (make build)` }, () => {
  it('loads in the runtime, exports pkcs11js\'s API, and reports a module that cannot be opened', () => {
    const script = `
      const addon = { exports: {} };
      process.dlopen(addon, process.argv[1]);
      let failure = 'none';
      try { new addon.exports.PKCS11().load('/nonexistent/module.so'); } catch (error) { failure = error.message.split('\\n')[0]; }
      console.log(JSON.stringify({ arch: process.arch, PKCS11: typeof addon.exports.PKCS11, CKM_SHA256: addon.exports.CKM_SHA256, failure }));`;
    const result = JSON.parse(execFileSync(...decoderCommand(['-e', script, ADDON], RUNTIME), { encoding: 'utf8' }));
    assert.deepEqual(result, { arch: ARCH, PKCS11: 'function', CKM_SHA256: 0x250, failure: '/nonexistent/module.so: cannot open shared object file: No such file or directory' });
  });
});
