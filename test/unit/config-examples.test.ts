// Every file in config-examples/ parses with the parser that will read it
// (smol-toml for TOML, the decoder's own parsers for ocicrypt.conf and the
// key-provider config), and the containerd examples name their stream
// processors consistently. Each file is also loaded by the real containerd
// that reads its version (`containerd --config FILE config dump`): version 2
// by the machine's containerd (1.6), version 3 by containerd 2.1 from its
// private Debian tree (test/tools/debian-tree.sh); skipped when missing,
// except in CI.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { parseDecodeArguments } from '../../src/decode/decode-arguments.ts';
import { parseContainerdConfig } from '../../src/operator/containerd/config.ts';
import { DEFAULT_KEYS_DIRECTORY, PAYLOAD_PROCESSOR_IDS, type StreamProcessor } from '../../src/operator/containerd/defaults.ts';
import { parseContainerdVersion } from '../../src/operator/containerd/version.ts';
import { diagnose, type DoctorProbe } from '../../src/operator/doctor/diagnose.ts';
import { KEYPROVIDER_CONFIG_VARIABLE, parseKeyProviderConfig } from '../../src/keywrap/key-provider/config.ts';
import { parseModulePolicy } from '../../src/keywrap/pkcs11/config.ts';
import { ENCRYPTED_LAYER_MEDIA_TYPES, decryptedMediaType, isEncryptedMediaType } from '../../src/operator/oci/media-types.ts';
import { CONTAINERD_2_1_COMMAND, containerd21Bin, treeFailure } from '../e2e/trees.ts';
import { REPO_ROOT } from '../support/paths.ts';

const EXAMPLES = join(REPO_ROOT, 'config-examples');
/** No client sends it a payload: the decoder looks its layers up in the content store. */
const ZSTD_PROCESSOR_ID = 'io.containerd.ocicrypt.decoder.v1.tar.zstd';
const files = readdirSync(EXAMPLES).sort();
const read = (name: string) => readFileSync(join(EXAMPLES, name), 'utf8');
const containerdExamples = files.filter((name) => name.startsWith('containerd-') || name.startsWith('processors-'));
const configured = (name: string) => parseContainerdConfig(read(name)).processors.filter((processor) => !processor.builtIn);

function hasContainerd(): boolean {
  try {
    execFileSync('containerd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env['CI'] === 'true') throw new Error('containerd is missing (apt-get install containerd); CI must run these tests');
    return false;
  }
}

describe('config-examples/', () => {
  it('holds the examples the README and doctor point to', () => {
    for (const name of [
      'containerd-1.6-config.toml',
      'containerd-2-config.toml',
      'containerd-rootless-config.toml',
      'containerd-2-rootless-config.toml',
      'nerdctl.toml',
      'processors-tar-gzip-zstd.toml',
      'ocicrypt.conf',
    ]) {
      assert.ok(files.includes(name), name);
    }
  });

  for (const name of files.filter((file) => file.endsWith('.toml'))) {
    it(`${name} is valid TOML`, () => assert.doesNotThrow(() => parse(read(name))));
  }

  it('nerdctl.toml sets only nerdctl client settings', () => {
    const settings = parse(read('nerdctl.toml'));
    assert.deepEqual(Object.keys(settings).sort(), ['address', 'hosts_dir', 'namespace']);
  });

  it('ocicrypt.conf is read by the PKCS#11 scheme as a policy that allows SoftHSM only', () => {
    const policy = parseModulePolicy(read('ocicrypt.conf'), 'ocicrypt.conf');
    assert.ok(policy.moduleDirectories.length > 0);
    assert.ok(policy.allowedModulePaths.length > 0);
    assert.ok(policy.allowedModulePaths.every((path) => path.endsWith('/libsofthsm2.so')), policy.allowedModulePaths.join(' '));
  });

  it('ocicrypt-keyprovider.conf, when present, parses as a key-provider config', (t) => {
    if (!files.includes('ocicrypt-keyprovider.conf')) return t.skip('not written yet');
    const config = parseKeyProviderConfig({ state: 'read', path: 'ocicrypt-keyprovider.conf', text: read('ocicrypt-keyprovider.conf') });
    assert.ok(config.providers.size > 0);
  });
});

describe('containerd examples: stream processors', () => {
  for (const name of containerdExamples) {
    describe(name, () => {
      const config = parseContainerdConfig(read(name));
      const processors = configured(name);

      it('has no setting containerd would refuse', () => assert.deepEqual(config.problems, []));

      it('uses the two processor IDs that receive the payload, and tar.zstd', () => {
        assert.deepEqual(processors.map((processor) => processor.id).sort(), [...PAYLOAD_PROCESSOR_IDS, ZSTD_PROCESSOR_ID].sort());
      });

      it('accepts every encrypted layer type exactly once, and nothing unencrypted', () => {
        const accepted = processors.flatMap((processor) => processor.accepts);
        assert.ok(accepted.every(isEncryptedMediaType), accepted.join(' '));
        // Non-distributable layer types are deprecated (image-spec 1.1); the examples leave them out.
        const distributable = ENCRYPTED_LAYER_MEDIA_TYPES.filter((type) => !type.includes('nondistributable'));
        assert.deepEqual([...accepted].sort(), [...distributable].sort());
      });

      it('returns what each processor accepts, decrypted', () => {
        for (const processor of processors) {
          assert.ok(processor.accepts.map(decryptedMediaType).includes(processor.returns), `${processor.id} returns ${processor.returns}`);
          assert.equal(processor.accepts.some((type) => type.includes('zstd')), processor.id === ZSTD_PROCESSOR_ID, 'zstd only under tar.zstd');
        }
      });

      it('runs the installed decoder with the standard keys directory', () => {
        for (const processor of processors) {
          assert.ok(processor.path.startsWith('/'), processor.path);
          assert.ok(processor.path.endsWith('/ctd-decoder'), processor.path);
          assert.equal(parseDecodeArguments(processor.args).keysDirectory, DEFAULT_KEYS_DIRECTORY);
          assert.ok(processor.env.every((entry) => /^[A-Z_]+=\S+$/.test(entry)), processor.env.join(' '));
          assert.ok(processor.env.some((entry) => entry.startsWith(`${KEYPROVIDER_CONFIG_VARIABLE}=`)));
        }
      });
    });
  }

  it('agree with each other: one ID, one set of media types, one binary', () => {
    const byId = new Map<string, { from: string; processor: StreamProcessor }>();
    for (const name of containerdExamples) {
      for (const processor of configured(name)) {
        const first = byId.get(processor.id);
        if (first === undefined) {
          byId.set(processor.id, { from: name, processor });
          continue;
        }
        for (const field of ['accepts', 'returns', 'path', 'args'] as const) {
          assert.deepEqual(processor[field], first.processor[field], `${processor.id} ${field}: ${name} differs from ${first.from}`);
        }
      }
    }
  });
});

describe('containerd examples: CRI settings', () => {
  for (const name of ['containerd-2-config.toml', 'containerd-2-rootless-config.toml']) {
    it(`${name} is version 3 with key_model "node" and without use_local_image_pull (payload-less CRI pulls)`, () => {
      const config = parseContainerdConfig(read(name));
      assert.equal(config.version, 3);
      assert.notEqual(config.cri?.useLocalImagePull, true);
      assert.equal(config.cri?.keyModel, 'node');
    });
  }

  for (const name of ['containerd-1.6-config.toml', 'containerd-rootless-config.toml']) {
    it(`${name} is version 2 with key_model "node"`, () => {
      const config = parseContainerdConfig(read(name));
      assert.equal(config.version, 2);
      assert.equal(config.cri?.keyModel, 'node');
    });
  }

  // doctor, on a machine where every file the examples name exists, finds no problem.
  const everythingInstalled: DoctorProbe = {
    fileFacts: (path) => ({ kind: path.endsWith('/keys') ? 'directory' : 'file', mode: path.endsWith('/keys') ? 0o700 : 0o755, uid: 0, executable: !path.endsWith('/keys') }),
    lookPath: (command) => `/usr/bin/${command}`,
    readTextFile: () => null,
    versionOf: () => 'ctd-decoder 0.1.0',
    keyInventory: async () => [{ path: 'k.pem', role: 'key', what: 'RSA 2048 private key', schemes: ['jwe'], fingerprint: null, details: [], warnings: [], keys: null }],
  };
  for (const [name, containerd] of [
    ['containerd-1.6-config.toml', 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3'],
    ['containerd-1.6-config.toml', 'containerd github.com/containerd/containerd v1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da'],
    ['containerd-rootless-config.toml', 'containerd github.com/containerd/containerd v1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da'],
    ['containerd-2-config.toml', 'containerd github.com/containerd/containerd/v2 v2.0.5 fb4c30d4ede3531652d86197bf3fc9515e5276d9'],
    ['containerd-2-config.toml', 'containerd github.com/containerd/containerd/v2 v2.1.0 06b99ca80cdbfbc6cc8bd567021738c9af2b36ce'],
    ['containerd-2-config.toml', 'containerd github.com/containerd/containerd/v2 2.1.9+unknown '],
    ['containerd-2-rootless-config.toml', 'containerd github.com/containerd/containerd/v2 2.1.9+unknown '],
  ] as const) {
    it(`doctor finds no problem in ${name} with ${containerd.split(' ')[2]}`, async () => {
      const findings = await diagnose(
        { configPath: name, configText: read(name), rootlessConfigDirectory: null, containerd: { path: '/usr/bin/containerd', version: parseContainerdVersion(containerd), output: containerd } },
        everythingInstalled,
      );
      const notOk = findings.filter((finding) => finding.level === 'problem' || finding.level === 'warning');
      assert.deepEqual(notOk, []);
    });
  }
});

/** containerd 2.1 from its private tree, or why not (a skip line; an error in CI). */
async function containerd21(): Promise<{ containerd: string } | { skip: string }> {
  try {
    return { containerd: join(await containerd21Bin(), 'containerd') };
  } catch (error) {
    const skip = `containerd 2.1 is not available (${treeFailure(error)}; enable: ${CONTAINERD_2_1_COMMAND})`;
    if (process.env['CI'] === 'true') throw new Error(`${skip}; CI must run these tests`);
    return { skip };
  }
}

const containerdFor: Record<number, () => Promise<{ containerd: string } | { skip: string }>> = {
  2: async () => (hasContainerd() ? { containerd: 'containerd' } : { skip: 'containerd is not installed (apt-get install containerd)' }),
  3: containerd21,
};

for (const version of [2, 3]) {
  describe(`version ${version} examples loaded by the real containerd ${version === 2 ? '(the machine\'s, 1.6)' : '2.1'}`, async () => {
    const available = await containerdFor[version]!();
    for (const name of containerdExamples.filter((file) => parseContainerdConfig(read(file)).version === version)) {
      it(`containerd --config ${name} config dump`, { skip: 'skip' in available ? available.skip : false }, () => {
        if ('skip' in available) return;
        const dump = execFileSync(available.containerd, ['--config', join(EXAMPLES, name), 'config', 'dump'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const loaded = parseContainerdConfig(dump);
        assert.equal(loaded.version, version === 2 ? 2 : 3);
        for (const processor of configured(name)) {
          const seen = loaded.processors.find((candidate) => candidate.id === processor.id);
          assert.ok(seen, `${processor.id} missing from containerd's view`);
          for (const field of ['accepts', 'returns', 'path', 'args', 'env'] as const) {
            assert.deepEqual(seen[field], processor[field], `${processor.id} ${field} as containerd reads it`);
          }
        }
        const cri = parseContainerdConfig(read(name)).cri;
        if (cri?.keyModel) assert.equal(loaded.cri?.keyModel, cri.keyModel);
        if (cri?.useLocalImagePull) assert.equal(loaded.cri?.useLocalImagePull, true, 'use_local_image_pull as containerd reads it');
      });
    }
  });
}
