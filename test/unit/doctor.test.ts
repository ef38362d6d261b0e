// doctor's checks on configs and machines described by a fake probe: each
// misconfiguration operators hit is reported as one problem with its fix.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseContainerdVersion } from '../../src/operator/containerd/version.ts';
import { diagnose, type DoctorProbe, type FileFacts, type Finding } from '../../src/operator/doctor/diagnose.ts';
import type { KeyInventoryEntry } from '../../src/operator/key-inventory.ts';

const DECODER = '/usr/local/bin/ctd-decoder';
const KEYS = '/etc/containerd/ocicrypt/keys';

const GOOD_PROCESSORS = `
[stream_processors]
  [stream_processors."io.containerd.ocicrypt.decoder.v1.tar.gzip"]
    accepts = ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"]
    returns = "application/vnd.oci.image.layer.v1.tar+gzip"
    path = "${DECODER}"
    args = ["--decryption-keys-path", "${KEYS}"]
  [stream_processors."io.containerd.ocicrypt.decoder.v1.tar"]
    accepts = ["application/vnd.oci.image.layer.v1.tar+encrypted"]
    returns = "application/vnd.oci.image.layer.v1.tar"
    path = "${DECODER}"
    args = ["--decryption-keys-path", "${KEYS}"]
`;

/** The same processors with upstream's strictness: no payload, no decryption. */
const STRICT_PROCESSORS = GOOD_PROCESSORS.replaceAll(`args = ["--decryption-keys-path", "${KEYS}"]`, `args = ["--decryption-keys-path", "${KEYS}", "--require-payload"]`);

const KEY: KeyInventoryEntry = { path: `${KEYS}/k.pem`, role: 'key', what: 'RSA 2048 private key', schemes: ['jwe'], fingerprint: null, details: [], warnings: [], keys: null };

interface Machine {
  files?: Record<string, FileFacts>;
  texts?: Record<string, string>;
  keys?: KeyInventoryEntry[];
  path?: Record<string, string>;
}

function probe(machine: Machine = {}): DoctorProbe {
  const files: Record<string, FileFacts> = {
    [DECODER]: { kind: 'file', mode: 0o755, uid: 0, executable: true },
    [KEYS]: { kind: 'directory', mode: 0o700, uid: 0, executable: false },
    ...machine.files,
  };
  return {
    fileFacts: (path) => files[path] ?? null,
    lookPath: (command) => machine.path?.[command] ?? null,
    readTextFile: (path) => (machine.texts?.[path] === undefined ? null : { text: machine.texts[path] }),
    versionOf: (path) => (path === DECODER ? 'ctd-decoder 0.1.0' : null),
    keyInventory: async () => machine.keys ?? [KEY],
  };
}

const CONTAINERD = {
  '1.6': 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3',
  '2.0': 'containerd github.com/containerd/containerd/v2 v2.0.5 fb4c30d4ede3531652d86197bf3fc9515e5276d9',
  '2.1': 'containerd github.com/containerd/containerd/v2 v2.1.0 06b99ca80cdbfbc6cc8bd567021738c9af2b36ce',
} as const;

async function doctor(config: string | null, containerd: keyof typeof CONTAINERD | null = '1.6', machine: Machine = {}, rootless: string | null = null): Promise<Finding[]> {
  const output = containerd === null ? null : CONTAINERD[containerd];
  return diagnose(
    {
      configPath: '/etc/containerd/config.toml',
      configText: config,
      rootlessConfigDirectory: rootless,
      containerd: output === null ? null : { path: '/usr/bin/containerd', version: parseContainerdVersion(output), output },
    },
    probe(machine),
  );
}

const problems = (findings: Finding[]) => findings.filter((finding) => finding.level === 'problem');
const warnings = (findings: Finding[]) => findings.filter((finding) => finding.level === 'warning');

function assertOneProblem(findings: Finding[], pattern: RegExp, fix: RegExp): void {
  const found = problems(findings);
  assert.equal(found.length, 1, JSON.stringify(found, null, 1));
  assert.match(found[0]!.message, pattern);
  assert.match(found[0]!.fix ?? '', fix);
}

describe('doctor: a good setup', () => {
  it('containerd 1.6 with a version 2 config: no problem, no warning', async () => {
    const findings = await doctor(`version = 2\n${GOOD_PROCESSORS}`);
    assert.deepEqual([...problems(findings), ...warnings(findings)], []);
    assert.ok(findings.some((finding) => finding.level === 'ok' && finding.message.includes('ctd-decoder 0.1.0')));
  });

  it('no config file: the built-in processors run "ctd-decoder" from PATH', async () => {
    const findings = await doctor(null, '1.6', { path: { 'ctd-decoder': DECODER } });
    assert.deepEqual(problems(findings), []);
    assert.ok(findings.some((finding) => /built into containerd/.test(finding.message)));
  });
});

describe('doctor: payload routing', () => {
  const zstdOwnId = (processors: string, extraArgs: string) => `version = 2\n${processors.replace(', "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"', '')}
  [stream_processors."io.containerd.ocicrypt.decoder.v1.tar.zstd"]
    accepts = ["application/vnd.oci.image.layer.v1.tar+zstd+encrypted"]
    returns = "application/vnd.oci.image.layer.v1.tar+zstd"
    path = "${DECODER}"
    args = ["--decryption-keys-path", "${KEYS}"${extraArgs}]
`;

  it('a zstd processor under its own ID gets no payload: payload-less mode, not a problem', async () => {
    const findings = await doctor(zstdOwnId(GOOD_PROCESSORS, ''));
    assert.deepEqual(problems(findings), []);
    assert.ok(findings.some((finding) => /tar\.zstd: a zstd processor gets no decryption payload.*payload-less mode/.test(finding.message)));
  });

  it('a zstd processor under its own ID with --require-payload: a problem', async () => {
    assertOneProblem(await doctor(zstdOwnId(STRICT_PROCESSORS, ', "--require-payload"')), /tar\.zstd: a zstd processor gets no decryption payload.*--require-payload refuses that/, /drop --require-payload/);
  });

  it('key_model = "": payload-less mode, or with --require-payload no decryption for CRI pulls', async () => {
    const config = (processors: string) => `version = 2\n[plugins."io.containerd.grpc.v1.cri".image_decryption]\n  key_model = ""\n${processors}`;
    assert.deepEqual(problems(await doctor(config(GOOD_PROCESSORS))), []);
    assertOneProblem(await doctor(config(STRICT_PROCESSORS)), /key_model = "": CRI pulls send the decoder no payload/, /key_model = "node" under \[plugins\."io\.containerd\.grpc\.v1\.cri"\.image_decryption\]/);
  });

  it('a processor that accepts unencrypted layers', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replace('accepts = ["application/vnd.oci.image.layer.v1.tar+encrypted"]', 'accepts = ["application/vnd.oci.image.layer.v1.tar+encrypted", "application/vnd.oci.image.layer.v1.tar"]')}`;
    assertOneProblem(await doctor(config), /accepts unencrypted application\/vnd\.oci\.image\.layer\.v1\.tar\b/, /only \+encrypted/);
  });

  it('no processor for tar+zstd is a warning', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replace(', "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"', '')}`;
    const findings = await doctor(config);
    assert.deepEqual(problems(findings), []);
    assert.match(warnings(findings)[0]?.message ?? '', /no stream processor accepts application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd\+encrypted/);
  });
});

describe('doctor: containerd versions', () => {
  const version3 = (images: string, processors = GOOD_PROCESSORS) => `version = 3\n[plugins.'io.containerd.cri.v1.images']\n${images}\n${processors}`;

  it('containerd 2.1 without use_local_image_pull: payload-less mode', async () => {
    const findings = await doctor(version3(''), '2.1');
    assert.deepEqual(problems(findings), []);
    assert.ok(findings.some((finding) => finding.level === 'ok' && /transfer service, which sends no payload: payload-less mode/.test(finding.message)));
  });

  it('containerd 2.1 without use_local_image_pull, decoder with --require-payload', async () => {
    assertOneProblem(await doctor(version3('', STRICT_PROCESSORS), '2.1'), /transfer service, which sends the decoder no payload/, /use_local_image_pull = true under \[plugins\.'io\.containerd\.cri\.v1\.images'\]/);
  });

  it('containerd 2.1 with use_local_image_pull = true', async () => {
    const findings = await doctor(version3('  use_local_image_pull = true'), '2.1');
    assert.deepEqual(problems(findings), []);
    assert.ok(findings.some((finding) => finding.level === 'ok' && /use_local_image_pull = true/.test(finding.message)));
  });

  it('containerd 2.1 falling back to the local pull because of registry mirrors, with --require-payload: a warning', async () => {
    const findings = await doctor(version3(`  [plugins.'io.containerd.cri.v1.images'.registry.mirrors."docker.io"]\n    endpoint = ["https://mirror.example"]`, STRICT_PROCESSORS), '2.1');
    assert.deepEqual(problems(findings), []);
    assert.match(warnings(findings)[0]?.message ?? '', /falls back to the local pull only because of registry\.mirrors/);
  });

  it('containerd 2.0 needs no use_local_image_pull', async () => {
    assert.deepEqual(problems(await doctor(version3(''), '2.0')), []);
  });

  it('containerd 2.1 with a version 2 config and --require-payload: migrate it', async () => {
    assert.deepEqual(problems(await doctor(`version = 2\n${GOOD_PROCESSORS}`, '2.1')), []);
    assertOneProblem(await doctor(`version = 2\n${STRICT_PROCESSORS}`, '2.1'), /a version 2 config cannot set use_local_image_pull/, /containerd config migrate/);
  });

  it('containerd 1.6 with a version 3 config', async () => {
    assertOneProblem(await doctor(version3('  use_local_image_pull = true'), '1.6'), /reads config version 2: the version 3 CRI settings are ignored/, /containerd-1\.6-config\.toml/);
  });

  it('containerd not found: a warning, checks go on', async () => {
    const findings = await doctor(`version = 2\n${GOOD_PROCESSORS}`, null);
    assert.deepEqual(problems(findings), []);
    assert.match(warnings(findings)[0]?.message ?? '', /containerd not found on PATH/);
  });
});

describe('doctor: the decoder binary and its arguments', () => {
  it('a path that does not exist', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replaceAll(DECODER, '/opt/missing/ctd-decoder')}`;
    const found = problems(await doctor(config));
    assert.equal(found.length, 2);
    for (const finding of found) {
      assert.match(finding.message, /\/opt\/missing\/ctd-decoder does not exist/);
      assert.match(finding.fix ?? '', /make install, or the \.deb/);
    }
  });

  it('a binary that is not executable', async () => {
    const findings = await doctor(`version = 2\n${GOOD_PROCESSORS}`, '1.6', { files: { [DECODER]: { kind: 'file', mode: 0o644, uid: 0, executable: false } } });
    assert.equal(problems(findings).length, 2);
    assert.match(problems(findings)[0]!.fix ?? '', /chmod 755/);
  });

  it('args without --decryption-keys-path', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replace(`args = ["--decryption-keys-path", "${KEYS}"]`, 'args = []')}`;
    assertOneProblem(await doctor(config), /io\.containerd\.ocicrypt\.decoder\.v1\.tar\.gzip: args has no --decryption-keys-path/, /--decryption-keys-path/);
  });

  it('args the decoder refuses', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replace(`args = ["--decryption-keys-path", "${KEYS}"]`, `args = ["--keys", "${KEYS}"]`)}`;
    assertOneProblem(await doctor(config), /unknown flag "--keys"/, /--decryption-keys-path DIR/);
  });

  it('a config that is not TOML', async () => {
    const findings = await doctor('version = 2\n[stream_processors\n');
    assertOneProblem(findings, /line 2/, /containerd --config .* config dump/);
  });

  it('a setting of the wrong type', async () => {
    const found = problems(await doctor(`version = 2\n${GOOD_PROCESSORS.replace('returns = "application/vnd.oci.image.layer.v1.tar"', 'returns = 1')}`));
    assert.match(found[0]!.message, /\[stream_processors\."io\.containerd\.ocicrypt\.decoder\.v1\.tar"\] returns must be a string/);
    assert.match(found[0]!.fix ?? '', /containerd does not start/);
  });
});

describe('doctor: keys directory and key providers', () => {
  it('a missing keys directory', async () => {
    const findings = await doctor(`version = 2\n${GOOD_PROCESSORS}`, '1.6', { files: { [KEYS]: undefined as never } });
    assertOneProblem(findings, /\/etc\/containerd\/ocicrypt\/keys does not exist/, /install -d -m 0700/);
  });

  it('a keys directory without a usable key', async () => {
    const unusable: KeyInventoryEntry = { ...KEY, role: 'unusable', what: 'public key, not a private key' };
    assertOneProblem(await doctor(`version = 2\n${GOOD_PROCESSORS}`, '1.6', { keys: [unusable] }), /holds no usable private key/, /ctd-decoder keys/);
  });

  it('a keys directory open to others and a key file warning', async () => {
    const findings = await doctor(`version = 2\n${GOOD_PROCESSORS}`, '1.6', {
      files: { [KEYS]: { kind: 'directory', mode: 0o755, uid: 0, executable: false } },
      keys: [{ ...KEY, warnings: ['group or others have access (mode 0644): chmod 600 k.pem'] }],
    });
    assert.deepEqual(problems(findings), []);
    assert.deepEqual(
      warnings(findings).map((finding) => finding.fix ?? finding.message),
      ['chmod 700 /etc/containerd/ocicrypt/keys', `${KEYS}/k.pem: group or others have access (mode 0644): chmod 600 k.pem`],
    );
  });

  it('rootless: /etc/containerd paths are checked under the rootless config directory', async () => {
    const home = '/home/user/.config/containerd';
    const findings = await doctor(`version = 2\n${GOOD_PROCESSORS}`, '1.6', {
      files: { [KEYS]: undefined as never, [`${home}/ocicrypt/keys`]: { kind: 'directory', mode: 0o700, uid: 1000, executable: false } },
    }, home);
    assert.deepEqual(problems(findings), []);
    assert.ok(findings.some((finding) => finding.message.includes(`${KEYS} (${home}/ocicrypt/keys on the host)`)));
  });

  it('a key-provider config naming a missing command', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replace(`args = ["--decryption-keys-path", "${KEYS}"]\n  [`, `args = ["--decryption-keys-path", "${KEYS}"]\n    env = ["OCICRYPT_KEYPROVIDER_CONFIG=/etc/kp.conf"]\n  [`)}`;
    const texts = { '/etc/kp.conf': JSON.stringify({ 'key-providers': { kms: { cmd: { path: '/usr/bin/kms-provider' } }, aa: { grpc: '127.0.0.1:50000' } } }) };
    const findings = await doctor(config, '1.6', { texts });
    assertOneProblem(findings, /kms: \/usr\/bin\/kms-provider does not exist/, /install the provider/);
    assert.ok(findings.some((finding) => finding.level === 'ok' && finding.message === 'aa: gRPC 127.0.0.1:50000'));
  });

  it('an absent key-provider config is not a problem', async () => {
    const config = `version = 2\n${GOOD_PROCESSORS.replace(`args = ["--decryption-keys-path", "${KEYS}"]\n  [`, `args = ["--decryption-keys-path", "${KEYS}"]\n    env = ["OCICRYPT_KEYPROVIDER_CONFIG=/etc/kp.conf"]\n  [`)}`;
    const findings = await doctor(config);
    assert.deepEqual(problems(findings), []);
    assert.ok(findings.some((finding) => finding.level === 'info' && /kp\.conf does not exist: no key providers/.test(finding.message)));
  });
});
