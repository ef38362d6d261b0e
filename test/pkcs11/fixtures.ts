import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
 * Debian packages to install. With CI=true a missing package is an error.
 */
export function pkcs11SkipReason(): string | null {
  const missing = PREREQUISITES.filter(([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0).map(
    ([, pkg]) => pkg,
  );
  if (!existsSync(SOFTHSM2_MODULE) && !missing.includes('softhsm2')) missing.push('softhsm2');
  if (missing.length === 0) return null;
  const line = `PKCS#11 tests need the Debian packages ${PREREQUISITES.map(([, pkg]) => pkg).join(', ')} (missing: ${[...new Set(missing)].join(', ')}; enable: make test-deps)`;
  if (process.env['CI'] === 'true') throw new Error(`${line} (CI=true: not skipping)`);
  return line;
}

export interface Pkcs11Fixtures {
  dir: string;
  /** softhsm2.conf of the token (the key file sets SOFTHSM2_CONF to it). */
  softhsmConf: string;
  ocicryptConf: string;
  keyFile: (name: 'hsm.yaml' | 'soft.pem') => Buffer;
  layer: (name: 'hsm-sha1' | 'soft-sha256' | 'mixed-hsm-first' | 'mixed-soft-first') => LayerCase;
}

/** Runs test/pkcs11/make-fixtures.sh into a fresh temporary directory. */
export function makePkcs11Fixtures(): Pkcs11Fixtures {
  const dir = temporaryDirectory('ctd-decoder-pkcs11-');
  execFileSync('bash', [join(REPO_ROOT, 'test', 'pkcs11', 'make-fixtures.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    dir,
    softhsmConf: join(dir, 'softhsm2.conf'),
    ocicryptConf: join(dir, 'ocicrypt.conf'),
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
