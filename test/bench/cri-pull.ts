/**
 * The user-level figure for `make bench`: wall time for containerd 1.6 to
 * pull and unpack one multi-layer encrypted image through CRI (PullImage, as
 * the kubelet asks), once with each decoder, on the same containerd version,
 * registry and image. Built from the e2e harness (test/e2e/): a local
 * registry, two containerd instances configured by
 * config-examples/containerd-1.6-config.toml that differ only in the decoder.
 *
 *   node test/bench/cri-pull.ts OURS UPSTREAM OUT_JSON
 *
 * The image: CRI_LAYERS (6) gzip layers of ~33 MiB each (base64 text of
 * random bytes: gzip leaves ~3/4), JWE-encrypted by skopeo. Pulls alternate
 * between the decoders, CRI_ROUNDS (3) each; the image, its snapshots and its
 * blobs are removed after every pull, and every pull must run the decoder once
 * per layer. Writes
 * {layers, compressedBytes, pulls: {ours: [s...], upstream: [s...]}}.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { pullImage } from '../e2e/cri.ts';
import { Containerd, CONTAINERD_1_6, E2eEnv, skipReason } from '../e2e/harness.ts';
import { makeKeyPair } from '../e2e/keys.ts';
import { buildImage, encryptAndPush, forEveryLayer, writeSkopeoPolicy, type PushedImage } from '../e2e/oci-image.ts';

const [ours, upstream, outJson] = process.argv.slice(2);
if (!ours || !upstream || !outJson) throw new Error('usage: cri-pull.ts OURS UPSTREAM OUT_JSON');
const LAYERS = Number(process.env['CRI_LAYERS'] ?? 6);
const ROUNDS = Number(process.env['CRI_ROUNDS'] ?? 3);
const RANDOM_BYTES_PER_LAYER = 33 * 1024 * 1024;

process.env['CTD_DECODER_BIN'] = ours; // what the harness's prerequisite check looks at
const skip = skipReason();
if (skip !== undefined) {
  console.error(`cri-pull: skipped: ${skip}`);
  process.exit(0);
}

/**
 * Removes the image, its unpacked layers and its blobs, so that the next pull
 * downloads, decrypts and unpacks every layer again: removing the image alone
 * leaves the snapshots, and the next pull would only look them up.
 */
async function forget(node: Containerd, image: PushedImage): Promise<void> {
  await node.ctr(['images', 'rm', '--sync', image.ref]);
  for (const chainId of [...image.chainIds].reverse()) await node.ctr(['snapshots', '--snapshotter', 'native', 'rm', chainId]).catch(() => {});
  for (const blob of [...image.manifest.layers, image.manifest.config]) await node.ctr(['content', 'rm', blob.digest]).catch(() => {});
}

const env = await E2eEnv.start(ours, CONTAINERD_1_6);
try {
  const other = await Containerd.start(env.tmp, { name: 'upstream', flavor: CONTAINERD_1_6, decoder: upstream, keysDir: env.keys.dir, hostsDir: env.hostsDir }, env.cleanup);
  const key = makeKeyPair(env.work, 'bench', 'rsa');
  env.keys.set([key]);
  console.error(`cri-pull: building and encrypting ${LAYERS} layers`);
  const layers = Array.from({ length: LAYERS }, (_, i) => ({
    compression: 'gzip' as const,
    files: { [`/data/layer-${i}.txt`]: randomBytes(RANDOM_BYTES_PER_LAYER).toString('base64') },
    busybox: i === 0,
  }));
  const image = await encryptAndPush(writeSkopeoPolicy(env.tmp), await buildImage(env.work, 'bench', layers), {
    encryption: forEveryLayer(key.recipient),
    registry: env.registry.host,
    repo: 'bench/multi-layer',
    tag: 'v1',
  });
  const compressedBytes = image.manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  const pod = { name: 'bench', uid: 'bench-uid', namespace: 'default' };
  const pulls: Record<'ours' | 'upstream', number[]> = { ours: [], upstream: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, node] of [['ours', env.containerd], ['upstream', other]] as const) {
      const callsBefore = node.processorCalls().length;
      const started = process.hrtime.bigint();
      await pullImage(node.socket, image.ref, { pod, timeoutMs: 600_000 });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const decoded = node.processorCalls().length - callsBefore;
      if (decoded !== LAYERS) throw new Error(`cri-pull: the ${label} pull ran the decoder ${decoded} times, not once per layer (${LAYERS})`);
      pulls[label].push(seconds);
      console.error(`cri-pull: ${label} ${seconds.toFixed(2)} s`);
      await forget(node, image);
    }
  }
  writeFileSync(outJson, JSON.stringify({ layers: LAYERS, compressedBytes, pulls }, null, 2) + '\n');
} finally {
  await env.stop();
}
