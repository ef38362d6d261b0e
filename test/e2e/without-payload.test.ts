// End to end, without a payload: the containerd paths that start the decoder
// with no fd 3 (plain `ctr pull`, `ctr import`, a zstd layer under its own
// processor ID, and on containerd >= 2.1 the transfer-service CRI pull). The
// decoder finds each layer's descriptor in containerd's content store; these
// tests drive a real containerd configured by the shipped example, with
// images encrypted by skopeo.
//
//   node --test test/e2e/without-payload.test.ts           (as root)
//
// The suite runs on every containerd version the harness offers. The
// failure cases unpack the way that version's shipped example sends no
// payload: plain `ctr pull` on 1.6 (whose CRI pulls carry one), the CRI pull
// itself on 2.1 (the transfer service), so that there the decoder's line is
// checked in the CRI error the kubelet sees.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { pullImage } from './cri.ts';
import { CONTAINERD_1_6, Containerd, containerdFlavors, decoderBinary, E2eEnv, skipReason, type ContainerdFlavor, type ProcessorCall } from './harness.ts';
import { makeKeyPair, type KeyPair } from './keys.ts';
import { buildImage, encryptAndPush, flipBit, forEveryLayer, randomText, writeSkopeoPolicy, type LayerSpec, type PushedImage, type SkopeoContext } from './oci-image.ts';
import { run } from './run.ts';

const TEST_TIMEOUT = 120_000;
const pod = { name: 'e2e-np', uid: 'e2e-np-uid', namespace: 'default' };
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd+encrypted';

/** The decoder's one stderr line inside containerd's or ctr's error text. */
const decoderLine = (code: string): RegExp => new RegExp(`ctd-decoder: ${code}\\b`);

/**
 * The decoder as containerd's processor runs it, behind a wrapper that first
 * runs a test's hook (a shell snippet, e.g. removing a manifest from the
 * content store) when one is set. The wrapper execs the decoder: same
 * process, same parent (containerd), same fds.
 */
function writeHookedDecoder(dir: string): { path: string; hook: string } {
  fs.mkdirSync(dir, { recursive: true });
  const hook = path.join(dir, 'hook.sh');
  const wrapper = path.join(dir, 'ctd-decoder-hooked');
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(wrapper, ['#!/bin/sh', `if [ -f ${q(hook)} ]; then . ${q(hook)}; fi`, `exec ${q(decoderBinary())} "$@"`, ''].join('\n'), { mode: 0o755 });
  return { path: wrapper, hook };
}

export function withoutPayloadSuite(flavor: ContainerdFlavor, skip: string | undefined): void {
  describe(`ctd-decoder without a payload, on containerd ${flavor.name}`, { skip: skip ?? false }, () => {
    let env: E2eEnv;
    let skopeo: SkopeoContext;
    let rsa: KeyPair;
    let stranger: KeyPair;
    let hooked: { path: string; hook: string };
    let images = 0;
    const hookDir = fs.mkdtempSync(path.join(process.env['TMPDIR'] ?? '/tmp', 'ctd-e2e-hook-'));

    before(
      async () => {
        hooked = writeHookedDecoder(hookDir);
        env = await E2eEnv.start(hooked.path, flavor);
        skopeo = writeSkopeoPolicy(env.tmp);
        rsa = makeKeyPair(env.work, 'rsa', 'rsa');
        stranger = makeKeyPair(env.work, 'stranger', 'rsa');
        env.keys.set([rsa]);
      },
      { timeout: TEST_TIMEOUT },
    );

    after(async () => {
      await env?.stop();
      fs.rmSync(hookDir, { recursive: true, force: true });
    });

    const ctd = (): Containerd => env.containerd;
    const contentStore = (): string => path.join(ctd().dir, 'root', 'io.containerd.content.v1.content');
    const blobFile = (digest: string): string => path.join(contentStore(), 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
    const fetchFlags = (): string[] => ['--plain-http', '--hosts-dir', env.hostsDir];

    async function makeImage(name: string, layers: LayerSpec[]): Promise<PushedImage> {
      images++;
      const unique = layers.map((l, i) => ({ ...l, files: { ...l.files, [`/etc/np-layer-${i}`]: randomText(`${name} layer ${i}`) } }));
      const img = await buildImage(env.work, `np-${name}-${images}`, unique);
      return encryptAndPush(skopeo, img, { encryption: forEveryLayer(rsa.recipient), registry: env.registry.host, repo: `np/${name}`, tag: `v${images}` });
    }

    async function callsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; calls: ProcessorCall[] }> {
      const before = ctd().processorCalls().length;
      const result = await fn();
      return { result, calls: ctd().processorCalls().slice(before) };
    }

    /** containerd started the decoder without fd 3 for every layer. */
    function assertNoPayload(calls: ProcessorCall[], layers: number): void {
      assert.equal(calls.length, layers, `processor calls: ${JSON.stringify(calls)}`);
      for (const call of calls) assert.equal(call.fd3, 'none', `expected no fd 3, got ${call.fd3} (${call.mediaType})`);
    }

    async function assertUnpacked(img: PushedImage): Promise<void> {
      const snapshots = await ctd().snapshots();
      for (const chain of img.chainIds) assert.ok(snapshots.includes(`${chain} Committed`), `no committed snapshot ${chain}`);
      const files = Object.keys(img.files);
      const read = await ctd().readFromSnapshot(img.chainIds[img.chainIds.length - 1]!, files);
      for (const f of files) assert.equal(read[f], img.files[f], `content of ${f}`);
    }

    /** A command that must fail; returns its error text. */
    async function mustFail(t: TestContext, what: Promise<unknown>): Promise<string> {
      const error = await what.then(
        () => assert.fail('succeeded but must fail'),
        (e: unknown) => e as Error,
      );
      t.diagnostic(error.message);
      return error.message;
    }

    /** After a failed unpack no snapshot is left that was not there before (waits for containerd's cleanup, bounded). */
    async function assertNoSnapshotLeft(snapshotsBefore: string[], dirsBefore: string[]): Promise<void> {
      const added = async () => ({
        snapshots: (await ctd().snapshots()).filter((s) => !snapshotsBefore.includes(s)),
        dirs: ctd().snapshotDirs().filter((d) => !dirsBefore.includes(d)),
      });
      const started = Date.now();
      let left = await added();
      while (Date.now() - started < 15_000 && (left.snapshots.length > 0 || left.dirs.length > 0)) {
        await new Promise((r) => setTimeout(r, 100));
        left = await added();
      }
      assert.deepEqual(left, { snapshots: [], dirs: [] }, 'left behind by a failed unpack');
    }

    /** The unpack fails with the decoder's line (`shown`: in ctr's error, or, where containerd reports its own error first, in the decoder's stderr), and leaves no snapshot. */
    async function failingUnpack(t: TestContext, code: string, unpack: () => Promise<unknown>, shown: 'error' | 'stderr' = 'error'): Promise<void> {
      const snapshotsBefore = await ctd().snapshots();
      const dirsBefore = ctd().snapshotDirs();
      const stderrLog = path.join(hookDir, 'decoder-stderr.log');
      fs.rmSync(stderrLog, { force: true });
      if (shown === 'stderr') fs.appendFileSync(hooked.hook, `exec 2>>'${stderrLog}'\n`);
      try {
        const { result: message, calls } = await callsDuring(() => mustFail(t, unpack()));
        assert.ok(calls.length >= 1, 'the decoder never ran');
        const line = shown === 'error' ? message : fs.readFileSync(stderrLog, 'utf8');
        t.diagnostic(`decoder: ${line.trim()}`);
        assert.match(line, decoderLine(code), line);
      } finally {
        fs.rmSync(hooked.hook, { force: true });
      }
      await assertNoSnapshotLeft(snapshotsBefore, dirsBefore);
    }

    const ctrPull = (ref: string): Promise<string> => ctd().ctr(['images', 'pull', ...fetchFlags(), '--snapshotter', 'native', ref]);

    /** An unpack without a payload: a CRI pull where it goes through the transfer service (2.1), else plain `ctr pull`. */
    const criTransfer = flavor.configVersion === 3;
    const unpackWithoutPayload = (ref: string): Promise<string> => (criTransfer ? pullImage(ctd().socket, ref, { pod }) : ctrPull(ref));
    const via = criTransfer ? 'CRI pull (transfer service)' : 'ctr pull';

    test('plain `ctr images pull` (no decryption flags): gzip, uncompressed and zstd layers unpack', { timeout: TEST_TIMEOUT }, async () => {
      const img = await makeImage('ctr-pull', [
        { compression: 'gzip', busybox: true, files: {} },
        { compression: 'none', files: { '/data/one.txt': randomText('one') } },
        { compression: 'zstd', files: { '/marker.txt': randomText('marker') } },
      ]);
      const { calls } = await callsDuring(() => ctrPull(img.ref));
      assertNoPayload(calls, 3);
      await assertUnpacked(img);
    });

    test('`ctr images import` of an encrypted image archive unpacks', { timeout: TEST_TIMEOUT }, async () => {
      const img = await makeImage('ctr-import', [{ compression: 'gzip', busybox: true, files: { '/marker.txt': randomText('marker') } }]);
      const archive = path.join(env.work, `import-${images}.tar`);
      const name = `import.test/np/imported:v${images}`;
      await run('skopeo', ['--policy', skopeo.policy, 'copy', '--quiet', '--src-tls-verify=false', `docker://${img.ref}`, `oci-archive:${archive}:${name}`], { ...process.env, TMPDIR: skopeo.tmpDir });
      const { calls } = await callsDuring(() => ctd().ctr(['images', 'import', '--snapshotter', 'native', archive]));
      assertNoPayload(calls, 1);
      await assertUnpacked(img);
    });

    test('a zstd layer under its own processor ID (…decoder.v1.tar.zstd, as shipped) unpacks through CRI', { timeout: TEST_TIMEOUT }, async () => {
      const img = await makeImage('zstd-own-id', [
        { compression: 'gzip', busybox: true, files: {} },
        { compression: 'zstd', files: { '/marker.txt': randomText('marker') } },
      ]);
      const { calls } = await callsDuring(() => pullImage(ctd().socket, img.ref, { pod }));
      const zstdCalls = calls.filter((call) => call.mediaType === ZSTD);
      assertNoPayload(zstdCalls, 1);
      await assertUnpacked(img);
    });

    // The decoder withholds the last 64 KiB of its output until the layer's
    // sha256 and HMAC are verified. A layer that fits in that tail is never
    // released at all: containerd sees an empty stream, then the decoder's
    // exit, and its line is the error. A bigger one (busybox) has been
    // released up to the tail, so containerd's gzip reader meets a truncated
    // stream and containerd (1.6 and 2.1 alike: its applier returns the
    // reader's "unexpected EOF" before it asks the processors for their
    // errors) reports that instead: there the decoder's line is read from
    // its stderr. Either way nothing is committed.
    for (const [what, busybox, shown] of [
      ['a layer within the withheld tail', false, 'error'],
      ['a busybox layer', true, 'stderr'],
    ] as const) {
      test(`a blob tampered with in the content store, ${what} (${via}): the decoder says ERR_INTEGRITY (in the ${shown === 'error' ? 'error' : "decoder's stderr"}), no snapshot left`, { timeout: TEST_TIMEOUT }, async (t) => {
        const img = await makeImage('tampered', [{ compression: 'gzip', busybox, files: { '/marker.txt': randomText('marker') } }]);
        await ctd().ctr(['content', 'fetch', ...fetchFlags(), img.ref]);
        const layer = blobFile(img.manifest.layers[0]!.digest);
        const size = fs.statSync(layer).size;
        assert.equal(size <= 64 * 1024, !busybox, `layer of ${size} bytes`);
        fs.writeFileSync(layer, flipBit(fs.readFileSync(layer), size - 100));
        await failingUnpack(t, 'ERR_INTEGRITY', () => unpackWithoutPayload(img.ref), shown);
      });
    }

    test(`the manifest gone from the content store when the decoder runs (${via}): ERR_NO_MANIFEST, no snapshot left`, { timeout: TEST_TIMEOUT }, async (t) => {
      const img = await makeImage('no-manifest', [{ compression: 'gzip', busybox: true, files: { '/marker.txt': randomText('marker') } }]);
      // containerd fetches the manifest and stores it; as the decoder starts, it goes.
      const response = await fetch(`http://${img.registry}/v2/${img.repo}/manifests/${img.ref.slice(img.ref.lastIndexOf(':') + 1)}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const manifestDigest = response.headers.get('docker-content-digest');
      assert.match(manifestDigest ?? '', /^sha256:[0-9a-f]{64}$/);
      fs.writeFileSync(hooked.hook, `rm -f '${blobFile(manifestDigest!)}'\n`);
      await failingUnpack(t, 'ERR_NO_MANIFEST', () => unpackWithoutPayload(img.ref));
    });

    test(`no node key opens the layer (${via}): ERR_NO_MATCHING_KEY, no snapshot left; with the key back it unpacks`, { timeout: TEST_TIMEOUT }, async (t) => {
      const img = await makeImage('no-key', [{ compression: 'gzip', busybox: true, files: { '/marker.txt': randomText('marker') } }]);
      env.keys.set([stranger]);
      try {
        await failingUnpack(t, 'ERR_NO_MATCHING_KEY', () => unpackWithoutPayload(img.ref));
      } finally {
        env.keys.set([rsa]);
      }
      await unpackWithoutPayload(img.ref);
      await assertUnpacked(img);
    });
  });
}

const skip = skipReason();
for (const { flavor, skip: flavorSkip } of skip ? [{ flavor: CONTAINERD_1_6, skip }] : await containerdFlavors()) withoutPayloadSuite(flavor, flavorSkip);
