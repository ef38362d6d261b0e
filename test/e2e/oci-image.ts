// Test images: built with umoci from a real rootfs (busybox-static plus files
// we choose), recompressed per layer as the test asks, encrypted with skopeo
// for any recipients skopeo can write (EncryptionRecipient: jwe, pgp, pkcs7
// with Debian 12's skopeo; pkcs11 and key providers with skopeo 1.18, see
// skopeoWithPkcs11AndProviders), every layer for the same ones or each layer
// for its own, pushed with skopeo to the loopback registry over plain HTTP,
// and tampered with in the registry when a test needs that.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { run } from './run.ts';

export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const LAYER_MEDIA_TYPE = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  none: 'application/vnd.oci.image.layer.v1.tar',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export type Compression = keyof typeof LAYER_MEDIA_TYPE;

export interface LayerSpec {
  compression: Compression;
  /** Absolute paths in the image -> file content. */
  files: Record<string, string>;
  /** Put /bin/busybox (static) and a few applet links in this layer. */
  busybox?: boolean;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  /** OCI layout directory and tag (for skopeo's `oci:` transport). */
  layout: string;
  tag: string;
  /** Uncompressed layer digests from the image config, bottom layer first. */
  diffIds: string[];
  /** Snapshot keys containerd commits the layers under, bottom layer first. */
  chainIds: string[];
  /** Every file the layers carry (later layers win), for assertions. */
  files: Record<string, string>;
}

export interface PushedImage extends BuiltImage {
  /** Reference to pull: host:port/repo:tag */
  ref: string;
  registry: string;
  repo: string;
  manifest: Manifest;
}

const sha256 = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)) (OCI image spec). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

export const BUSYBOX = '/bin/busybox';

function blobPath(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

function writeBlob(layout: string, data: Buffer): { digest: string; size: number } {
  const digest = sha256(data);
  fs.writeFileSync(blobPath(layout, digest), data);
  return { digest, size: data.length };
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

interface OciIndex {
  schemaVersion: number;
  manifests: Array<Descriptor & { annotations?: Record<string, string> }>;
}

function manifestEntry(layout: string, tag: string): { index: OciIndex; entry: OciIndex['manifests'][number] } {
  const index = readJson<OciIndex>(path.join(layout, 'index.json'));
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`tag ${tag} not in ${layout}/index.json`);
  return { index, entry };
}

/**
 * Builds an OCI image with umoci, one `umoci insert` per layer (umoci writes
 * gzip layers), then rewrites the layers the spec wants uncompressed or zstd.
 * The image config (diff_ids) stays as umoci wrote it: recompression does not
 * change the uncompressed tar.
 */
export async function buildImage(workDir: string, name: string, layers: LayerSpec[]): Promise<BuiltImage> {
  const layout = path.join(workDir, `${name}.oci`);
  const tag = 'latest';
  const image = `${layout}:${tag}`;
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', image]);
  const files: Record<string, string> = {};
  for (const [i, spec] of layers.entries()) {
    const dir = path.join(workDir, `${name}.layer${i}`);
    fs.mkdirSync(dir, { recursive: true });
    if (spec.busybox) {
      fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
      fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
      fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
      for (const applet of ['sh', 'cat', 'ls']) fs.symlinkSync('busybox', path.join(dir, 'bin', applet));
    }
    for (const [file, content] of Object.entries(spec.files)) {
      const target = path.join(dir, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
      files[file] = content;
    }
    await run('umoci', ['insert', '--image', image, dir, '/']);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await run('umoci', ['config', '--image', image, '--config.cmd', '/bin/sh']);

  // Recompress layers where asked.
  const { index, entry } = manifestEntry(layout, tag);
  const manifest = readJson<Manifest>(blobPath(layout, entry.digest));
  if (manifest.layers.length !== layers.length) throw new Error('umoci made an unexpected number of layers');
  manifest.layers = manifest.layers.map((layer, i) => {
    const want = layers[i]!.compression;
    if (want === 'gzip') return layer;
    const tar = zlib.gunzipSync(fs.readFileSync(blobPath(layout, layer.digest)));
    const data = want === 'zstd' ? zlib.zstdCompressSync(tar) : tar;
    return { mediaType: LAYER_MEDIA_TYPE[want], ...writeBlob(layout, data) };
  });
  const newManifest = writeBlob(layout, Buffer.from(JSON.stringify(manifest)));
  entry.digest = newManifest.digest;
  entry.size = newManifest.size;
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));

  const config = readJson<{ rootfs: { diff_ids: string[] } }>(blobPath(layout, manifest.config.digest));
  const diffIds = config.rootfs.diff_ids;
  return { layout, tag, diffIds, chainIds: chainIds(diffIds), files };
}

export interface SkopeoContext {
  /** Private trust policy (skopeo refuses to run without one; never /etc/containers). */
  policy: string;
  /** Scratch space for skopeo's big temporary files (default would be /var/tmp). */
  tmpDir: string;
}

export function writeSkopeoPolicy(dir: string): SkopeoContext {
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const tmpDir = path.join(dir, 'skopeo-tmp');
  fs.mkdirSync(tmpDir, { recursive: true });
  return { policy, tmpDir };
}

function skopeo(ctx: SkopeoContext, args: string[], opts: { command?: string; env?: Record<string, string> } = {}): Promise<string> {
  return run(opts.command ?? 'skopeo', ['--policy', ctx.policy, '--tmpdir', ctx.tmpDir, ...args], {
    ...process.env,
    ...opts.env,
    TMPDIR: ctx.tmpDir,
  });
}

/**
 * Someone skopeo encrypts layers for: one `--encryption-key` argument, plus
 * what skopeo needs to resolve it. New schemes (pkcs11, key providers) are
 * new recipients, not new code here.
 */
export interface EncryptionRecipient {
  /**
   * The wrapped-key annotation's suffix (`org.opencontainers.image.enc.keys.<scheme>`):
   * `jwe`, `pgp`, `pkcs7`, `pkcs11`, `provider.<name>`.
   */
  readonly scheme: string;
  /** skopeo's `--encryption-key` value: `jwe:<pub.pem>`, `pgp:<email>`, `pkcs7:<cert.pem>`, `pkcs11:<yaml>`, `provider:<name>:<opts>`. */
  readonly encryptionKey: string;
  /** Environment skopeo needs for this recipient: GNUPGHOME (pgp), OCICRYPT_CONFIG (pkcs11), OCICRYPT_KEYPROVIDER_CONFIG (providers). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The skopeo command that can write this scheme. Default `skopeo` (Debian
   * 12's 1.9.3: jwe, pgp, pkcs7); pkcs11 and key providers need skopeo 1.18
   * (skopeoWithPkcs11AndProviders).
   */
  readonly skopeo?: string;
}

let skopeo118: Promise<string> | undefined;

/**
 * A skopeo that writes pkcs11 and key-provider recipients (for
 * EncryptionRecipient.skopeo): 1.18 from Debian trixie, which
 * test/tools/debian-tree.sh fetches once into build/tools and runs from a
 * private tree (nothing installed). Resolves with the program's path.
 */
export function skopeoWithPkcs11AndProviders(): Promise<string> {
  skopeo118 ??= debianTreeBin('skopeo-1.18', 'trixie', ['skopeo']).then((bin) => path.join(bin, 'skopeo'));
  return skopeo118;
}

/** The bin/ directory of a private tree of packages from a newer Debian suite (test/tools/debian-tree.sh). */
export async function debianTreeBin(name: string, suite: string, packages: readonly string[]): Promise<string> {
  const tool = fileURLToPath(new URL('../tools/debian-tree.sh', import.meta.url));
  const out = await run('bash', [tool, name, suite, ...packages]);
  const bin = out.trim().split('\n').pop() ?? '';
  if (!path.isAbsolute(bin)) throw new Error(`test/tools/debian-tree.sh printed no directory: ${JSON.stringify(out)}`);
  return bin;
}

export const wrappedKeysAnnotation = (scheme: string): string => `org.opencontainers.image.enc.keys.${scheme}`;

/** One skopeo encryption run: these layers (indexes, bottom layer 0; every layer when absent) for these recipients. */
export interface EncryptionPass {
  recipients: readonly EncryptionRecipient[];
  layers?: readonly number[];
}

/** Every layer encrypted for the same recipients (one skopeo run). */
export function forEveryLayer(...recipients: EncryptionRecipient[]): EncryptionPass[] {
  return [{ recipients }];
}

/** Layer i encrypted for perLayer[i] only (one skopeo run per layer). */
export function forEachLayer(...perLayer: EncryptionRecipient[][]): EncryptionPass[] {
  return perLayer.map((recipients, i) => ({ recipients, layers: [i] }));
}

/** The skopeo command and environment of one pass: its recipients must agree on both. */
function passTool(pass: EncryptionPass): { command: string; env: Record<string, string> } {
  const commands = new Set(pass.recipients.map((r) => r.skopeo ?? 'skopeo'));
  if (commands.size !== 1) throw new Error(`recipients of one encryption pass need different skopeo commands: ${[...commands].join(', ')}`);
  const env: Record<string, string> = {};
  for (const r of pass.recipients) {
    for (const [name, value] of Object.entries(r.env ?? {})) {
      if (name in env && env[name] !== value) throw new Error(`recipients of one encryption pass disagree on ${name}: split them into passes`);
      env[name] = value;
    }
  }
  return { command: [...commands][0]!, env };
}

/** Which pass encrypts each layer; every layer exactly once. */
function layerPasses(passes: readonly EncryptionPass[], layerCount: number): EncryptionPass[] {
  const byLayer: Array<EncryptionPass | undefined> = new Array(layerCount).fill(undefined);
  for (const pass of passes) {
    if (pass.recipients.length === 0) throw new Error('an encryption pass without recipients');
    for (const i of pass.layers ?? byLayer.keys()) {
      if (!Number.isInteger(i) || i < 0 || i >= layerCount) throw new Error(`no layer ${i} (the image has ${layerCount})`);
      if (byLayer[i]) throw new Error(`layer ${i} is in two encryption passes`);
      byLayer[i] = pass;
    }
  }
  const missing = byLayer.flatMap((p, i) => (p ? [] : [i]));
  if (missing.length) throw new Error(`layers ${missing.join(', ')} are in no encryption pass`);
  return byLayer as EncryptionPass[];
}

/**
 * Encrypts the image's layers as `encryption` says (one skopeo run per pass;
 * a later pass copies the layers an earlier one encrypted unchanged) and
 * pushes the result to registry/repo:tag over plain HTTP. Checks that the
 * registry serves every layer encrypted, with a wrapped key for the scheme of
 * each of its recipients.
 *
 * Encrypting straight to a registry would make skopeo gzip uncompressed layers
 * first, so each pass goes to a `dir:` copy (which keeps each layer's
 * compression) and the last one is pushed from there unchanged.
 */
export async function encryptAndPush(
  ctx: SkopeoContext,
  img: BuiltImage,
  opts: { encryption: readonly EncryptionPass[]; registry: string; repo: string; tag: string },
): Promise<PushedImage> {
  const byLayer = layerPasses(opts.encryption, img.diffIds.length);
  let source = `oci:${img.layout}:${img.tag}`;
  for (const [n, pass] of opts.encryption.entries()) {
    const encDir = `${img.layout}.encrypted.${n}`;
    fs.rmSync(encDir, { recursive: true, force: true });
    const keys = pass.recipients.flatMap((r) => ['--encryption-key', r.encryptionKey]);
    const layers = (pass.layers ?? []).flatMap((i) => ['--encrypt-layer', String(i)]);
    const { command, env } = passTool(pass);
    await skopeo(ctx, ['copy', '--quiet', ...keys, ...layers, source, `dir:${encDir}`], { command, env });
    source = `dir:${encDir}`;
  }
  const ref = `${opts.registry}/${opts.repo}:${opts.tag}`;
  await skopeo(ctx, ['copy', '--quiet', '--dest-tls-verify=false', '--dest-no-creds', source, `docker://${ref}`]);
  const manifest = await getManifest(opts.registry, opts.repo, opts.tag);
  for (const [i, layer] of manifest.layers.entries()) {
    if (!layer.mediaType.endsWith('+encrypted')) throw new Error(`skopeo left layer ${i} (${layer.digest}) unencrypted (${layer.mediaType})`);
    for (const r of byLayer[i]!.recipients) {
      const annotation = wrappedKeysAnnotation(r.scheme);
      if (!layer.annotations?.[annotation]) throw new Error(`layer ${i} has no ${annotation} for recipient ${r.encryptionKey}`);
    }
  }
  return { ...img, ref, registry: opts.registry, repo: opts.repo, manifest };
}

// ---------------------------------------------------------------------------
// Registry access (distribution v2 HTTP API, plain HTTP on loopback).

export async function getManifest(registry: string, repo: string, reference: string): Promise<Manifest> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${reference}`, {
    headers: { accept: MEDIA_TYPE_MANIFEST },
  });
  if (!res.ok) throw new Error(`GET manifest ${repo}:${reference}: HTTP ${res.status}`);
  return (await res.json()) as Manifest;
}

async function getBlob(registry: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${registry}/v2/${repo}/blobs/${digest}`);
  if (!res.ok) throw new Error(`GET blob ${digest}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function putBlob(registry: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(`http://${registry}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`start blob upload: HTTP ${start.status}`);
  const url = new URL(location, `http://${registry}`);
  url.searchParams.set('digest', digest);
  const res = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  });
  if (res.status !== 201) throw new Error(`finish blob upload: HTTP ${res.status} ${await res.text()}`);
  return digest;
}

async function putManifest(registry: string, repo: string, tag: string, manifest: Manifest): Promise<void> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': MEDIA_TYPE_MANIFEST },
    body: JSON.stringify(manifest),
  });
  if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${tag}: HTTP ${res.status} ${await res.text()}`);
}

/** Flips one bit in the middle of the data (a copy). */
export function flipBit(data: Buffer, at = Math.floor(data.length / 2)): Buffer {
  const out = Buffer.from(data);
  out[at] = out[at]! ^ 0x01;
  return out;
}

/**
 * A registry that serves modified ciphertext under a consistent manifest: the
 * layer blob gets one bit flipped and is stored under its new digest, and the
 * tag is re-pointed at a manifest naming that blob (annotations unchanged).
 * containerd's digest checks all pass, so only the decoder's authentication
 * (HMAC) and containerd's diff_id check stand between it and the rootfs.
 */
export async function serveTamperedLayer(img: PushedImage, layerIndex: number): Promise<PushedImage> {
  const layer = img.manifest.layers[layerIndex];
  if (!layer) throw new Error(`no layer ${layerIndex}`);
  const tampered = flipBit(await getBlob(img.registry, img.repo, layer.digest));
  const digest = await putBlob(img.registry, img.repo, tampered);
  const manifest: Manifest = structuredClone(img.manifest);
  manifest.layers[layerIndex] = { ...layer, digest, size: tampered.length };
  const tag = img.ref.slice(img.ref.lastIndexOf(':') + 1);
  await putManifest(img.registry, img.repo, tag, manifest);
  return { ...img, manifest };
}

/**
 * The known-plaintext attack: someone who knows a layer's content (a public
 * base layer, say) and controls the registry flips a bit of the ciphertext
 * exactly where `needle` sits in the uncompressed layer (AES-CTR: the same
 * bit flips in the plaintext), then publishes an image config whose diff_id
 * matches the altered plaintext, and a manifest naming both. Every check
 * containerd makes then passes; only the decoder's HMAC can stop the layer,
 * and only if the decoder never lets the altered layer out whole.
 * The layer must be uncompressed (`none`), so that the flipped bit stays a
 * valid tar stream.
 */
export async function serveTamperedLayerWithMatchingDiffId(img: PushedImage, layerIndex: number, needle: string): Promise<PushedImage> {
  const layer = img.manifest.layers[layerIndex];
  if (!layer) throw new Error(`no layer ${layerIndex}`);
  if (!layer.mediaType.endsWith('.tar+encrypted')) throw new Error(`layer ${layerIndex} must be uncompressed, is ${layer.mediaType}`);
  const { entry } = manifestEntry(img.layout, img.tag);
  const plainManifest = readJson<Manifest>(blobPath(img.layout, entry.digest));
  const plaintext = fs.readFileSync(blobPath(img.layout, plainManifest.layers[layerIndex]!.digest));
  const at = plaintext.indexOf(needle);
  if (at < 0) throw new Error(`"${needle.trim()}" not in layer ${layerIndex}`);

  const ciphertext = await getBlob(img.registry, img.repo, layer.digest);
  if (ciphertext.length !== plaintext.length) throw new Error('ciphertext and plaintext lengths differ: not AES-CTR as expected');
  const layerDigest = await putBlob(img.registry, img.repo, flipBit(ciphertext, at));
  const diffIds = [...img.diffIds];
  diffIds[layerIndex] = sha256(flipBit(plaintext, at));

  const config = JSON.parse((await getBlob(img.registry, img.repo, img.manifest.config.digest)).toString('utf8')) as {
    rootfs: { diff_ids: string[] };
  };
  config.rootfs.diff_ids = diffIds;
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await putBlob(img.registry, img.repo, configBytes);

  const manifest: Manifest = structuredClone(img.manifest);
  manifest.config = { ...manifest.config, digest: configDigest, size: configBytes.length };
  manifest.layers[layerIndex] = { ...layer, digest: layerDigest };
  const tag = img.ref.slice(img.ref.lastIndexOf(':') + 1);
  await putManifest(img.registry, img.repo, tag, manifest);
  return { ...img, manifest, diffIds, chainIds: chainIds(diffIds) };
}

/**
 * Changes one bit of a layer blob in place inside the registry's filesystem
 * store: the registry then serves bytes that do not match their digest.
 */
export function corruptBlobInStorage(storageDir: string, digest: string): void {
  const hex = digest.replace(/^sha256:/, '');
  const file = path.join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  fs.writeFileSync(file, flipBit(fs.readFileSync(file)));
}

/** Random printable content, so that every image (and every layer) is unique. */
export function randomText(label: string): string {
  return `${label} ${randomBytes(16).toString('hex')}\n`;
}
