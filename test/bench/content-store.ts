/**
 * A containerd content store for the payload-less lookup's benchmark, cached:
 *
 *   node test/bench/content-store.ts LAYER_DIR STORE_ROOT IMAGES
 *
 * STORE_ROOT/io.containerd.content.v1.content/blobs/sha256/ gets, per image,
 * an index, a manifest listing two encrypted layers (JWE and pubopts
 * annotations of realistic size), a config and the two layer blobs (1-64 KiB
 * of random bytes); and LAYER_DIR's blob.enc with one manifest listing its
 * descriptor.json, written first (the oldest manifest: a lookup that walks
 * newest first reads every other manifest before it). Prints the layer blob's path.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [layerDir, storeRoot, imagesText] = process.argv.slice(2);
if (!layerDir || !storeRoot || !imagesText) throw new Error('usage: content-store.ts LAYER_DIR STORE_ROOT IMAGES');
const images = Number(imagesText);
const blobs = join(storeRoot, 'io.containerd.content.v1.content', 'blobs', 'sha256');
const encrypted = readFileSync(join(layerDir, 'blob.enc'));
const layerHex = createHash('sha256').update(encrypted).digest('hex');
const stamp = join(storeRoot, `complete-${images}-${layerHex}`);

if (!existsSync(stamp)) {
  rmSync(storeRoot, { recursive: true, force: true });
  mkdirSync(blobs, { recursive: true });
  let clock = Date.now() / 1000 - 10 * images;
  const put = (bytes: Buffer | string): { digest: string; size: number } => {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const hex = createHash('sha256').update(data).digest('hex');
    const path = join(blobs, hex);
    writeFileSync(path, data);
    clock += 1;
    utimesSync(path, clock, clock);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const manifest = (layers: object[]) => {
    const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map(() => `sha256:${randomBytes(32).toString('hex')}`) } }));
    const body = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers }));
    put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...body, platform: { architecture: 'amd64', os: 'linux' } }] }));
  };
  put(encrypted);
  manifest([JSON.parse(readFileSync(join(layerDir, 'descriptor.json'), 'utf8'))]);
  for (let image = 0; image < images; image++) {
    manifest(
      [0, 1].map(() => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted',
        ...put(randomBytes(1024 + Math.floor(Math.random() * 63 * 1024))),
        annotations: {
          'org.opencontainers.image.enc.keys.jwe': randomBytes(1100).toString('base64'),
          'org.opencontainers.image.enc.pubopts': randomBytes(60).toString('base64'),
        },
      })),
    );
  }
  writeFileSync(stamp, '');
}
console.log(join(blobs, layerHex));
