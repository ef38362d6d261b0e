// The upstream decoder as the yardstick: Debian's imgcrypt 1.1.11
// `ctd-decoder` (the Go program this project replaces) inside the same
// containerd versions, beside ours. Every difference the README claims
// ("the Go decoder cannot ..., ctd-decoder does") is a test here: the same
// image and the same keys directory, pulled through a containerd running the
// upstream decoder and through one running ctd-decoder.
//
//   node --test test/e2e/upstream.test.ts        (as root; see containerd.test.ts)

import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { GrpcError, pullImage } from './cri.ts';
import {
  Containerd,
  containerdFlavors,
  decoderBinary,
  E2eEnv,
  skipReason,
  withLocalImagePull,
  type ContainerdFlavor,
  type ProcessorCall,
} from './harness.ts';
import { treeFailure, UPSTREAM_IMGCRYPT_COMMAND, upstreamDecoder } from './trees.ts';
import { makeKeyPair, makePkcs7Key, type KeyPair, type NodeKey, type Pkcs7Key } from './keys.ts';
import { buildImage, encryptAndPush, forEveryLayer, randomText, writeSkopeoPolicy, type EncryptionPass, type PushedImage, type SkopeoContext } from './oci-image.ts';

const TEST_TIMEOUT = 120_000;
const pod = { name: 'e2e-upstream', uid: 'e2e-upstream-uid', namespace: 'default' };

const skip = skipReason();
let upstream = '';
let upstreamSkip: string | undefined;
if (!skip) {
  try {
    upstream = await upstreamDecoder();
  } catch (err) {
    upstreamSkip = `upstream decoder suite needs Debian's imgcrypt in a private tree: ${treeFailure(err)} (enable: apt-get install patchelf; ${UPSTREAM_IMGCRYPT_COMMAND})`;
    if (process.env.CI === 'true') throw new Error(`${upstreamSkip} (CI=true: not skipping)`);
  }
}
const flavors = skip || upstreamSkip ? [] : await containerdFlavors();

/**
 * What containerd shows when the upstream decoder failed and containerd read
 * its exit status late (containerd#6914; ctd-decoder prevents this, see
 * containerd.test.ts PULL_ATTEMPTS): accepted beside the upstream's own line.
 */
const LOST_RACE = /wrong diff id calculated on extraction/;

/** A pull that must fail; containerd's error and the processor calls it made. */
async function pullFails(t: TestContext, ctd: Containerd, ref: string): Promise<{ message: string; calls: ProcessorCall[] }> {
  const before = ctd.processorCalls().length;
  const err = await pullImage(ctd.socket, ref, { pod }).then(
    (imageRef) => assert.fail(`pull of ${ref} through ${ctd.daemon.name} succeeded (${imageRef}) but must fail`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GrpcError, `expected a gRPC error, got ${String(err)}`);
  t.diagnostic(`${ctd.daemon.name}: ${err.message}`);
  return { message: err.message, calls: ctd.processorCalls().slice(before) };
}

/** The pull succeeds through ctd, every layer went through the decoder (with a payload unless `payload` is false: then with none), and the top snapshot holds the files. */
async function pullSucceeds(ctd: Containerd, img: PushedImage, payload = true): Promise<void> {
  const before = ctd.processorCalls().length;
  await pullImage(ctd.socket, img.ref, { pod });
  const calls = ctd.processorCalls().slice(before);
  assert.equal(calls.length, img.manifest.layers.length, `${ctd.daemon.name}: one decoder run per layer`);
  for (const c of calls) {
    if (payload) assert.match(c.fd3, /^pipe:/, `${ctd.daemon.name}: no payload for ${c.mediaType}`);
    else assert.equal(c.fd3, 'none', `${ctd.daemon.name}: fd 3 (${c.fd3}) for ${c.mediaType}`);
  }
  const files = Object.keys(img.files);
  const read = await ctd.readFromSnapshot(img.chainIds[img.chainIds.length - 1]!, files);
  for (const f of files) assert.equal(read[f], img.files[f], `${ctd.daemon.name}: content of ${f}`);
}

const title = (versions: string): string => `containerd ${versions}: the upstream decoder (imgcrypt 1.1.11) as yardstick`;
if (skip || upstreamSkip) describe(title('1.6 and 2.1'), { skip: skip ?? upstreamSkip ?? false }, () => {});
for (const { flavor, skip: flavorSkip } of flavors) describe(title(flavor.name), { skip: flavorSkip ?? false }, () => yardstick(flavor));

function yardstick(flavor: ContainerdFlavor): void {
  /**
   * Both decoders on the payload path, so that the cases below compare key
   * handling alone: on 2.1 that needs use_local_image_pull = true (the
   * shipped example's transfer-service pulls send no payload, which upstream
   * cannot handle at all: the last case).
   */
  const payloadPath = flavor.configVersion === 3 ? withLocalImagePull : undefined;
  /** Registry, keys directory and a containerd running the upstream decoder. */
  let env: E2eEnv;
  /** A second containerd on the same registry and keys directory, running ctd-decoder. */
  let ours: Containerd;
  let skopeo: SkopeoContext;
  let rsa: KeyPair;
  let pkcs7KeyOnly: Pkcs7Key;
  let imageCount = 0;

  before(
    async () => {
      env = await E2eEnv.start(upstream, flavor, [], payloadPath);
      ours = await Containerd.start(
        env.tmp,
        { name: 'containerd-ours', flavor, decoder: decoderBinary(), keysDir: env.keys.dir, hostsDir: env.hostsDir, transformConfig: payloadPath },
        env.cleanup,
      );
      skopeo = writeSkopeoPolicy(env.tmp);
      rsa = makeKeyPair(env.work, 'rsa', 'rsa');
      pkcs7KeyOnly = await makePkcs7Key(env.work, 'pkcs7-key-only', { certificateInKeysDir: false });
    },
    { timeout: TEST_TIMEOUT },
  );

  after(async () => {
    await env?.stop();
  });

  async function makeImage(name: string, encryption: EncryptionPass[]): Promise<PushedImage> {
    imageCount++;
    // A file of its own in every layer: layers identical to an earlier
    // image's (umoci's tar of the same busybox within the same second) would
    // be found unpacked already, and containerd would not run the decoder.
    const img = await buildImage(env.work, `${name}-${imageCount}`, [
      { compression: 'gzip', busybox: true, files: { '/etc/e2e-layer-0': randomText(`${name} layer 0`) } },
      { compression: 'none', files: { '/marker.txt': randomText(`${name} marker`) } },
    ]);
    return encryptAndPush(skopeo, img, { encryption, registry: env.registry.host, repo: `e2e/${name}`, tag: `v${imageCount}` });
  }

  test('JWE image through CRI (payload path): both decoders unpack it', { timeout: TEST_TIMEOUT }, async () => {
    env.keys.set([rsa]);
    const img = await makeImage('jwe', forEveryLayer(rsa.recipient));
    await pullSucceeds(env.containerd, img);
    await pullSucceeds(ours, img);
  });

  test('PKCS#7 recipient whose certificate is not on the node: upstream fails, ctd-decoder decrypts', { timeout: TEST_TIMEOUT }, async (t) => {
    env.keys.set([pkcs7KeyOnly]);
    const img = await makeImage('pkcs7', forEveryLayer(pkcs7KeyOnly.recipient));
    const { calls, message } = await pullFails(t, env.containerd, img.ref);
    assert.ok(calls.length >= 1, 'the upstream decoder never ran');
    assert.ok(/no suitable key unwrapper found or none of the private keys could be used/.test(message) || LOST_RACE.test(message), message);
    await pullSucceeds(ours, img);
  });

  test('keys directory as a Kubernetes Secret volume (key.pem -> ..data/key.pem): upstream fails, ctd-decoder decrypts', { timeout: TEST_TIMEOUT }, async (t) => {
    env.keys.set([]);
    fs.mkdirSync(path.join(env.keys.dir, '..data'), { mode: 0o700 });
    fs.writeFileSync(path.join(env.keys.dir, '..data', 'rsa.pem'), rsa.privatePem, { mode: 0o600 });
    fs.symlinkSync('..data/rsa.pem', path.join(env.keys.dir, 'rsa.pem'));
    const img = await makeImage('secret-volume', forEveryLayer(rsa.recipient));
    const { calls, message } = await pullFails(t, env.containerd, img.ref);
    assert.ok(calls.length >= 1, 'the upstream decoder never ran');
    assert.ok(/Symbolic links not supported in decryption keys paths/.test(message) || LOST_RACE.test(message), message);
    await pullSucceeds(ours, img);
  });

  test('password-protected key with its password in NAME.password: upstream fails, ctd-decoder decrypts', { timeout: TEST_TIMEOUT }, async (t) => {
    const password = 'e2e key password';
    const protectedPem = createPrivateKey(rsa.privatePem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password }) as string;
    const protectedKey: NodeKey = { name: 'rsa-protected', keyFiles: { 'rsa.pem': protectedPem, 'rsa.pem.password': `${password}\n` } };
    env.keys.set([protectedKey]);
    const img = await makeImage('protected-key', forEveryLayer(rsa.recipient));
    const { calls, message } = await pullFails(t, env.containerd, img.ref);
    assert.ok(calls.length >= 1, 'the upstream decoder never ran');
    assert.ok(/Unknown decryption key type/.test(message) || LOST_RACE.test(message), message);
    await pullSucceeds(ours, img);
  });

  if (flavor.configVersion === 3) {
    test(`${flavor.name} default CRI pull (transfer service, the shipped example): upstream fails with "read configFd: bad file descriptor", ctd-decoder unpacks`, { timeout: TEST_TIMEOUT }, async (t) => {
      env.keys.set([rsa]);
      const img = await makeImage('transfer', forEveryLayer(rsa.recipient));
      const transfer = (name: string, decoder: string): Promise<Containerd> =>
        Containerd.start(env.tmp, { name, flavor, decoder, keysDir: env.keys.dir, hostsDir: env.hostsDir }, env.cleanup);
      const [upstreamNode, ourNode] = await Promise.all([transfer('containerd-transfer-upstream', upstream), transfer('containerd-transfer-ours', decoderBinary())]);
      try {
        // The upstream decoder exits at once, which can lose containerd#6914's
        // race and show "wrong diff id" instead of its line: 2 of 12 attempts
        // in past runs here. Up to 20 attempts (most runs need one): with 5,
        // a losing streak failed about one run in 10^4 (one in 100 at 40%).
        const upstreamMessages: string[] = [];
        for (let i = 0; i < 20 && !upstreamMessages.some((m) => m.includes('read configFd: bad file descriptor')); i++) {
          // (each attempt is a new pull of the same image: nothing was committed)
          const { message, calls } = await pullFails(t, upstreamNode, img.ref);
          for (const c of calls) assert.equal(c.fd3, 'none');
          upstreamMessages.push(message);
        }
        assert.ok(upstreamMessages.some((m) => /read payload: read configFd: bad file descriptor/.test(m)), upstreamMessages.join('\n'));
        await pullSucceeds(ourNode, img, false);
      } finally {
        await Promise.all([upstreamNode.stop(), ourNode.stop()]);
      }
    });
  }
}
