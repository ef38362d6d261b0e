// Rootless containerd (test/e2e/rootless.ts): an unprivileged user's
// containerd, configured by config-examples/containerd-rootless-config.toml
// (1.6) or containerd-2-rootless-config.toml (2.1) in ~/.config/containerd,
// pulls an encrypted image through CRI and unpacks it with ctd-decoder, the
// key in ~/.config/containerd/ocicrypt/keys.
//
//   node --test test/e2e/rootless.test.ts        (as root: it sets up the user's namespaces)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pullImage } from './cri.ts';
import { Cleanup, containerdFlavors, decoderBinary, REPO_ROOT, skipReason, startRegistry, temporaryDirectory, type ContainerdFlavor, type Registry } from './harness.ts';
import { makeKeyPair } from './keys.ts';
import { buildImage, encryptAndPush, forEveryLayer, randomText, writeSkopeoPolicy } from './oci-image.ts';
import { RootlessContainerd, ROOTLESS_USER, rootlessMissing } from './rootless.ts';

const TEST_TIMEOUT = 120_000;
const EXAMPLES: Record<2 | 3, string> = {
  2: path.join(REPO_ROOT, 'config-examples', 'containerd-rootless-config.toml'),
  3: path.join(REPO_ROOT, 'config-examples', 'containerd-2-rootless-config.toml'),
};

function rootlessSkip(): string | undefined {
  const skip = skipReason();
  if (skip) return skip;
  const missing = rootlessMissing();
  if (missing.length === 0) return undefined;
  const line = `rootless end-to-end suite needs: ${missing.join('; ')}`;
  if (process.env.CI === 'true') throw new Error(`${line} (CI=true: not skipping)`);
  return line;
}
const skip = rootlessSkip();
const flavors = skip ? [] : await containerdFlavors();

if (skip) describe('rootless containerd: ctd-decoder as an unprivileged user', { skip }, () => {});
for (const { flavor, skip: flavorSkip } of flavors) {
  describe(`containerd ${flavor.name} rootless: ctd-decoder as an unprivileged user (${ROOTLESS_USER.name})`, { skip: flavorSkip ?? false }, () => rootlessSuite(flavor));
}

function rootlessSuite(flavor: ContainerdFlavor): void {
  const cleanup = new Cleanup();
  let tmp: string;
  let registry: Registry;
  let ctd: RootlessContainerd;

  before(
    async () => {
      tmp = temporaryDirectory(`ctd-e2e-rootless-${flavor.name}-`, cleanup);
      fs.chmodSync(tmp, 0o711); // the user passes through to its own directory, and sees nothing else here
      registry = await startRegistry(path.join(tmp, 'registry'), cleanup);
      ctd = await RootlessContainerd.start(path.join(tmp, 'user'), { flavor, example: EXAMPLES[flavor.configVersion], decoder: decoderBinary(), registryHost: registry.host }, cleanup);
    },
    { timeout: TEST_TIMEOUT },
  );

  after(async () => {
    const failures = await cleanup.run();
    if (failures.length) throw new Error(`rootless e2e cleanup: ${failures.join('; ')}`);
  });

  test('pulls and unpacks an encrypted image through CRI; the key in ~/.config/containerd/ocicrypt/keys', { timeout: TEST_TIMEOUT }, async (t) => {
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    const rsa = makeKeyPair(work, 'rsa', 'rsa');
    await ctd.setKeys(rsa.keyFiles);
    const marker = randomText('rootless marker');
    const built = await buildImage(work, 'rootless', [
      { compression: 'gzip', busybox: true, files: {} },
      { compression: 'none', files: { '/marker.txt': marker } },
    ]);
    const img = await encryptAndPush(writeSkopeoPolicy(tmp), built, { encryption: forEveryLayer(rsa.recipient), registry: registry.host, repo: 'e2e/rootless', tag: 'v1' });

    await pullImage(ctd.socket, img.ref, { pod: { name: 'rootless', uid: 'rootless-uid', namespace: 'default' } });
    const calls = ctd.processorCalls();
    assert.equal(calls.length, 2, JSON.stringify(calls));
    for (const c of calls) {
      // 1.6's CRI pull sends the payload; 2.1's goes through the transfer
      // service and sends none (the decoder looks the layer up in the user's
      // content store, ~/.local/share/containerd).
      if (flavor.configVersion === 2) assert.match(c.fd3, /^pipe:/, `no payload for ${c.mediaType}`);
      else assert.equal(c.fd3, 'none', `the transfer service sent fd 3 (${c.fd3}) for ${c.mediaType}`);
      // The path containerd was given: /etc/containerd inside its namespace, ~/.config/containerd on the host.
      assert.equal(c.args, '--decryption-keys-path /etc/containerd/ocicrypt/keys');
    }
    const snapshots = await ctd.ctr(['snapshots', '--snapshotter', 'native', 'ls']);
    for (const chain of img.chainIds) assert.match(snapshots, new RegExp(`^${chain}\\s.*Committed`, 'm'));
    // The unpacked files, seen from the host: the marker's content, and
    // owned by the unprivileged user (root inside its user namespace).
    const unpacked = ctd.snapshotDirs().map((d) => path.join(d, 'marker.txt')).filter((f) => fs.existsSync(f));
    assert.equal(unpacked.length, 1, `marker.txt in ${unpacked.length} snapshots`);
    assert.equal(fs.readFileSync(unpacked[0]!, 'utf8'), marker);
    assert.equal(fs.statSync(unpacked[0]!).uid, ROOTLESS_USER.uid);

    // doctor, run by the user as on their machine, reads ~/.config/containerd/config.toml
    // and finds the keys under ~/.config/containerd: no problem.
    const doctor = spawnSync(
      'setpriv',
      [`--reuid=${ROOTLESS_USER.uid}`, `--regid=${ROOTLESS_USER.gid}`, '--clear-groups', decoderBinary(), 'doctor', '--json'],
      { encoding: 'utf8', env: { HOME: ctd.home, PATH: `${flavor.binDir ?? ''}:/usr/sbin:/usr/bin:/sbin:/bin` } },
    );
    const findings = (JSON.parse(doctor.stdout) as { findings: Array<{ level: string; area: string; message: string }> }).findings;
    t.diagnostic(`doctor (exit ${doctor.status}): ${findings.map((f) => `${f.level} ${f.area}: ${f.message}`).join(' | ')}`);
    assert.deepEqual(findings.filter((f) => f.level === 'problem'), []);
    assert.ok(findings.some((f) => f.area === 'keys' && f.level === 'ok' && f.message.includes(ctd.keysDir)), 'doctor checked the keys under ~/.config/containerd');
  });
}
