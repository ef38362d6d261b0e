// doctor against the real containerd 2.1: for each CRI setting that decides
// between the transfer service (no payload) and the local pull, containerd's
// own start-up log ("Falling back to local image pull mode", from its
// CheckLocalImagePullConfigs) and doctor's verdict on the same config file
// must agree. Without a payload the decoder looks layers up (fine: "ok");
// only with --require-payload in the processors' args is the transfer
// service a problem. The settings are containerd 2.1.9's list (internal/cri/config,
// CheckLocalImagePullConfigs) minus the registry.mirrors/configs/auths
// entries, which containerd refuses beside config_path (doctor's unit tests
// cover those).
//
//   node --test test/e2e/doctor.test.ts        (as root)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cleanup, Containerd, containerd21, decoderBinary, skipReason, temporaryDirectory, withLocalImagePull, withRequirePayload, type ContainerdFlavor } from './harness.ts';
import { CONTAINERD_2_1_COMMAND, treeFailure } from './trees.ts';

const TEST_TIMEOUT = 60_000;
const FALLBACK = /Falling back to local image pull mode/;

let flavor: ContainerdFlavor | undefined;
let skip = skipReason();
if (!skip) {
  try {
    flavor = await containerd21();
  } catch (err) {
    skip = `doctor end-to-end suite needs containerd 2.1's private tree: ${treeFailure(err)} (enable: apt-get install patchelf; ${CONTAINERD_2_1_COMMAND})`;
    if (process.env.CI === 'true') throw new Error(`${skip} (CI=true: not skipping)`);
  }
}

/** Adds `key = value` to the CRI image table of a version 3 config. */
function withImageSetting(setting: string): (config: string) => string {
  return (config) => {
    const lines = config.split('\n');
    const at = lines.findIndex((l) => l.trim() === "[plugins.'io.containerd.cri.v1.images']");
    assert.ok(at >= 0, 'no CRI image table');
    lines.splice(at + 1, 0, `  ${setting}`);
    return lines.join('\n');
  };
}

interface Finding {
  level: string;
  area: string;
  message: string;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `fallback`: containerd logs that it falls back to the local pull on its own (not because of use_local_image_pull). */
const CASES: Array<{ name: string; transform: (config: string) => string; fallback: boolean; doctor: RegExp; level: string }> = [
  { name: 'nothing set (the shipped example: the transfer service)', transform: (c) => c, fallback: false, level: 'ok', doctor: /transfer service, which sends no payload: payload-less mode/ },
  { name: 'use_local_image_pull = true', transform: withLocalImagePull, fallback: false, level: 'ok', doctor: /use_local_image_pull = true/ },
  { name: 'nothing set, --require-payload', transform: withRequirePayload, fallback: false, level: 'problem', doctor: /transfer service, which sends the decoder no payload, and --require-payload refuses that/ },
  ...['discard_unpacked_layers = true', 'disable_snapshot_annotations = false', 'max_concurrent_downloads = 5', 'image_pull_with_sync_fs = true'].map((setting) => ({
    name: `${setting} without use_local_image_pull`,
    transform: withImageSetting(setting),
    fallback: true,
    level: 'ok',
    doctor: new RegExp(`fall back to the local pull \\(payload\\) because of ${escapeRegExp(setting)}`),
  })),
  {
    name: 'max_concurrent_downloads = 5 without use_local_image_pull, --require-payload',
    transform: (c: string) => withImageSetting('max_concurrent_downloads = 5')(withRequirePayload(c)),
    fallback: true,
    level: 'warning',
    doctor: /falls back to the local pull only because of max_concurrent_downloads = 5/,
  },
];

describe('doctor and containerd 2.1 agree on the CRI pull path', { skip: skip ?? false }, () => {
  const cleanup = new Cleanup();
  let tmp: string;
  before(() => {
    tmp = temporaryDirectory('ctd-e2e-doctor-', cleanup);
    fs.mkdirSync(path.join(tmp, 'keys'));
    fs.mkdirSync(path.join(tmp, 'certs.d'));
  });
  after(async () => {
    const failures = await cleanup.run();
    if (failures.length) throw new Error(`doctor e2e cleanup: ${failures.join('; ')}`);
  });

  for (const [i, c] of CASES.entries()) {
    test(c.name, { timeout: TEST_TIMEOUT }, async (t) => {
      const node = await Containerd.start(
        tmp,
        { name: `containerd-${i}`, flavor: flavor!, decoder: decoderBinary(), keysDir: path.join(tmp, 'keys'), hostsDir: path.join(tmp, 'certs.d'), transformConfig: c.transform },
        cleanup,
      );
      await node.stop();
      const log = fs.readFileSync(node.logFile, 'utf8');
      t.diagnostic(`containerd: ${log.split('\n').find((l) => FALLBACK.test(l)) ?? 'no fallback'}`);
      assert.equal(FALLBACK.test(log), c.fallback, 'containerd falls back to the local pull on its own');

      // doctor finds containerd on PATH, as on a node; exit status 1 means problems were found.
      const doctor = spawnSync(decoderBinary(), ['doctor', '--json', '--config', node.configFile], { encoding: 'utf8', env: { ...process.env, PATH: `${flavor!.binDir}:${process.env.PATH}` } });
      assert.ok(doctor.status === 0 || doctor.status === 1, doctor.stderr);
      const cri = (JSON.parse(doctor.stdout) as { findings: Finding[] }).findings.filter((f) => f.area === 'cri' && !f.message.startsWith('image_decryption'));
      t.diagnostic(`doctor: ${JSON.stringify(cri)}`);
      assert.equal(cri.length, 1);
      assert.equal(cri[0]!.level, c.level);
      assert.match(cri[0]!.message, c.doctor);
    });
  }
});
