/**
 * The OCI image layout the payload-less lookup's benchmark imports into a
 * real containerd (test/bench/content-store-lookup.sh), cached:
 *
 *   node test/bench/content-store.ts LAYER_DIR LAYOUT_DIR IMAGES
 *
 * Per image: a manifest listing two encrypted layers (JWE and pubopts
 * annotations of realistic size), a config and the two layer blobs (1-64 KiB
 * of random bytes); and LAYER_DIR's blob.enc in an image of its own, first
 * in index.json. Prints "done" when the layout is complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [layerDir, layout, imagesText] = process.argv.slice(2);
if (!layerDir || !layout || !imagesText) throw new Error('usage: content-store.ts LAYER_DIR LAYOUT_DIR IMAGES');
const images = Number(imagesText);
const blobs = join(layout, 'blobs', 'sha256');
const encrypted = readFileSync(join(layerDir, 'blob.enc'));
const stamp = join(layout, `complete-${images}-${createHash('sha256').update(encrypted).digest('hex')}`);

if (!existsSync(stamp)) {
  rmSync(layout, { recursive: true, force: true });
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer | string): { digest: string; size: number } => {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const manifests: object[] = [];
  const image = (layers: object[]): void => {
    const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map(() => `sha256:${randomBytes(32).toString('hex')}`) } }));
    const manifest = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers }));
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'io.containerd.image.name': `bench.test/lookup/image-${manifests.length}:v1` },
    });
  };
  image([{ ...JSON.parse(readFileSync(join(layerDir, 'descriptor.json'), 'utf8')), ...put(encrypted) }]);
  for (let i = 0; i < images; i++) {
    image(
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
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  writeFileSync(stamp, '');
}
console.log('done');
