import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LayerCase } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/run-decoder.ts';
import { temporaryDirectory } from '../support/temporary.ts';

export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
/** What make-fixtures.sh sets up (kept in step with it). */
export const TOKEN = { label: 'ctd-test', object: 'ctd-key', pin: 'hsm-pin-7391' } as const;

/** Tool -> the Debian package that has it. */
const PREREQUISITES: ReadonlyArray<readonly [tool: string, pkg: string]> = [
  ['softhsm2-util', 'softhsm2'],
  ['pkcs11-tool', 'opensc'],
  ['umoci', 'umoci'],
  ['openssl', 'openssl'],
  ['jq', 'jq'],
];

/**
 * Null when the SoftHSM2 tests can run; otherwise the one line saying which
 * Debian packages to install (for arm64: which tree to fetch). With CI=true a
 * missing package is an error.
 */
export function pkcs11SkipReason(): string | null {
  const missing = PREREQUISITES.filter(([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0).map(
    ([, pkg]) => pkg,
  );
  if (!existsSync(SOFTHSM2_MODULE) && !missing.includes('softhsm2')) missing.push('softhsm2');
  let line: string | null = null;
  if (missing.length > 0) {
    line = `PKCS#11 tests need the Debian packages ${PREREQUISITES.map(([, pkg]) => pkg).join(', ')} (missing: ${[...new Set(missing)].join(', ')}; enable: make test-deps)`;
  } else if (ARM64) {
    try {
      arm64ModuleDirectory();
    } catch (error) {
      const last = (error as Error).message.trim().split('\n').pop();
      const fetch = `bash test/tools/debian-tree.sh ${arm64TreeArguments(true).join(' ')}`;
      line = `PKCS#11 tests of the arm64 binary need Debian's arm64 libsofthsm2 in a private tree: ${last} (enable: apt-get install patchelf; ${fetch})`;
    }
  }
  if (line !== null && process.env['CI'] === 'true') throw new Error(`${line} (CI=true: not skipping)`);
  return line;
}

/**
 * The arm64 binary (make test-arm64, CTD_DECODER_ARCH=arm64) loads the arm64
 * libsofthsm2 of this machine's Debian release, the SoftHSM2 version of the
 * x64 softhsm2-util that makes the token, from a private tree: under qemu-user
 * it finds its libcrypto there (debian-tree.sh sets its library path) and libc
 * in the runner's sysroot.
 */
const ARM64 = process.env['CTD_DECODER_ARCH'] === 'arm64';
/** debian-tree.sh's arguments; `forMessage`: RELEASE when this machine's is unknown, instead of throwing. */
function arm64TreeArguments(forMessage = false): string[] {
  const release = existsSync('/etc/os-release') ? /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] : undefined;
  if (release === undefined && !forMessage) throw new Error('no VERSION_CODENAME in /etc/os-release');
  return ['--arch', 'arm64', 'softhsm2-arm64', release ?? 'RELEASE', 'libsofthsm2'];
}
let arm64Modules: string | undefined;
/** The arm64 tree's module directory (fetched once into build/tools). */
function arm64ModuleDirectory(): string {
  if (arm64Modules === undefined) {
    const tool = join(REPO_ROOT, 'test', 'tools', 'debian-tree.sh');
    const out = execFileSync('bash', [tool, ...arm64TreeArguments()], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    arm64Modules = join(dirname(out.trim().split('\n').pop()!), 'root', 'usr', 'lib', 'softhsm');
  }
  return arm64Modules;
}

export interface Pkcs11Fixtures {
  dir: string;
  /** softhsm2.conf of the token (the key file sets SOFTHSM2_CONF to it). */
  softhsmConf: string;
  /** Allows the module directory of the binary under test's architecture (make-fixtures.sh's for x64). */
  ocicryptConf: string;
  keyFile: (name: 'hsm.yaml' | 'soft.pem') => Buffer;
  layer: (name: 'hsm-sha1' | 'soft-sha256' | 'mixed-hsm-first' | 'mixed-soft-first') => LayerCase;
}

/** Runs test/pkcs11/make-fixtures.sh into a fresh temporary directory. */
export function makePkcs11Fixtures(): Pkcs11Fixtures {
  const dir = temporaryDirectory('ctd-decoder-pkcs11-');
  execFileSync('bash', [join(REPO_ROOT, 'test', 'pkcs11', 'make-fixtures.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  let ocicryptConf = join(dir, 'ocicrypt.conf');
  if (ARM64) {
    ocicryptConf = join(dir, 'ocicrypt-arm64.conf');
    const modules = arm64ModuleDirectory();
    writeFileSync(ocicryptConf, `pkcs11:\n  module-directories:\n    - ${modules}/\n  allowed-module-paths:\n    - ${modules}/\n`);
  }
  return {
    dir,
    softhsmConf: join(dir, 'softhsm2.conf'),
    ocicryptConf,
    keyFile: (name) => readFileSync(join(dir, 'keys', name)),
    layer: (name) => {
      const layerDir = join(dir, 'layers', name);
      return {
        name,
        encrypted: readFileSync(join(layerDir, 'blob.enc')),
        plain: readFileSync(join(layerDir, 'blob.plain')),
        descriptor: JSON.parse(readFileSync(join(layerDir, 'descriptor.json'), 'utf8')),
        recipients: [],
      };
    },
  };
}
