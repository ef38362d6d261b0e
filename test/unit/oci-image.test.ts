// OCI image reading for inspect and decrypt: tar indexing (against archives
// made by skopeo and GNU tar), image documents, the index walk and its
// rewrite, and the per-layer inspection on skopeo-made layers.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { progressLine } from '../../src/operator/progress.ts';
import { formatBytes, formatColumns, shortDigest } from '../../src/operator/text.ts';
import { ImageError } from '../../src/errors.ts';
import { inspectLayer } from '../../src/operator/inspect-image.ts';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { parseDescriptor, parseImageDocument, sha256Digest, walkImage, type Descriptor, type ImageIndex } from '../../src/operator/oci/image.ts';
import { decryptedMediaType, isEncryptionAnnotation } from '../../src/operator/oci/media-types.ts';
import { indexTar } from '../../src/operator/oci/tar.ts';
import { FIXTURES } from '../support/paths.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const OCI = join(FIXTURES, 'oci');

function tarIndexOf(path: string) {
  const fd = openSync(path, 'r');
  try {
    return indexTar((offset, length) => {
      const buffer = Buffer.alloc(length);
      return buffer.subarray(0, readSync(fd, buffer, 0, length, offset));
    }, statSync(path).size);
  } finally {
    closeSync(fd);
  }
}

function readEntry(path: string, entry: { offset: number; size: number }): Buffer {
  return readFileSync(path).subarray(entry.offset, entry.offset + entry.size);
}

describe('tar index', () => {
  it('finds index.json and every blob of a skopeo OCI archive, with the right bytes', () => {
    const archive = join(OCI, 'two.tar');
    const entries = tarIndexOf(archive);
    const index = parseImageDocument(readEntry(archive, entries.get('index.json')!), 'index.json');
    assert.equal(index.kind, 'index');
    assert.ok(entries.has('oci-layout'));
    for (const [name, entry] of entries) {
      if (!name.startsWith('blobs/sha256/')) continue;
      assert.equal(sha256Digest(readEntry(archive, entry)), `sha256:${name.slice('blobs/sha256/'.length)}`);
    }
  });

  it('reads GNU tar long names and pax headers', () => {
    const dir = temporaryDirectory();
    const long = `${'d'.repeat(120)}/${'f'.repeat(110)}`;
    mkdirSync(join(dir, 'src', 'd'.repeat(120)), { recursive: true });
    writeFileSync(join(dir, 'src', long), 'long name\n');
    writeFileSync(join(dir, 'src', 'short'), 'short\n');
    for (const format of ['gnu', 'pax']) {
      const archive = join(dir, `${format}.tar`);
      execFileSync('tar', ['-C', join(dir, 'src'), `--format=${format}`, '-cf', archive, '.']);
      const entries = tarIndexOf(archive);
      assert.equal(readEntry(archive, entries.get(long)!).toString(), 'long name\n', format);
      assert.equal(readEntry(archive, entries.get('short')!).toString(), 'short\n', format);
    }
  });

  it('refuses what is not tar', () => {
    const bytes = Buffer.alloc(1024, 0x41);
    assert.throws(() => indexTar((offset, length) => bytes.subarray(offset, offset + length), bytes.length), ImageError);
  });
});

const digestOf = (text: string) => sha256Digest(Buffer.from(text));
const descriptor = (mediaType: string, content: string, extra: object = {}) => ({ mediaType, digest: digestOf(content), size: content.length, ...extra });

describe('image documents', () => {
  it('tells an index, a manifest and a lone descriptor apart', () => {
    const layer = descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 'x');
    assert.equal(parseImageDocument(Buffer.from(JSON.stringify({ manifests: [] })), 'f').kind, 'index');
    assert.equal(parseImageDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [layer] })), 'f').kind, 'manifest');
    assert.equal(parseImageDocument(Buffer.from(JSON.stringify(layer)), 'f').kind, 'descriptor');
  });

  for (const [what, value] of [
    ['a digest that could leave the blob directory', { mediaType: 'x', digest: 'sha256:../../etc/passwd', size: 1 }],
    ['an unknown digest algorithm', { mediaType: 'x', digest: `md5:${'0'.repeat(32)}`, size: 1 }],
    ['a negative size', { mediaType: 'x', digest: digestOf('x'), size: -1 }],
    ['an annotation that is not a string', { mediaType: 'x', digest: digestOf('x'), size: 1, annotations: { a: 1 } }],
  ] as const) {
    it(`refuses ${what}`, () => assert.throws(() => parseDescriptor(value, 'layer'), ImageError));
  }

  it('names platforms', () => {
    assert.equal(parseDescriptor({ ...descriptor('x', 'x'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }, 'd').platform, 'linux/arm64/v8');
  });
});

describe('walkImage', () => {
  // A root index -> nested index -> two manifests (one of them twice).
  const layerA = descriptor('application/vnd.oci.image.layer.v1.tar+gzip+encrypted', 'layer-a');
  const manifest = (layer: object) => JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [layer] });
  const manifestA = manifest(layerA);
  const manifestB = manifest(descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 'layer-b'));
  const platform = { os: 'linux', architecture: 'amd64' };
  const nested = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [descriptor('application/vnd.oci.image.manifest.v1+json', manifestA, { platform }), descriptor('application/vnd.oci.image.manifest.v1+json', manifestB)],
  });
  const blobs = new Map([manifestA, manifestB, nested].map((text) => [digestOf(text), Buffer.from(text)]));
  const root = parseImageDocument(
    Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [descriptor('application/vnd.oci.image.index.v1+json', nested, { annotations: { 'org.opencontainers.image.ref.name': 'v1' } })] })),
    'index.json',
  ) as ImageIndex;
  const readBlob = async (d: Descriptor) => blobs.get(d.digest)!;

  it('visits every manifest below nested indexes, with the descriptors above it', async () => {
    const visited: string[] = [];
    const written: string[] = [];
    const result = await walkImage(root, {
      readBlob,
      writeBlob: async (bytes) => void written.push(sha256Digest(bytes)),
      visitManifest: async ({ descriptor: d, parents }) => {
        visited.push(`${d.platform ?? '-'} ${parents.map((p) => p.annotations.get('org.opencontainers.image.ref.name')).join()}`);
        return null;
      },
    });
    assert.equal(result, null);
    assert.deepEqual(visited, ['linux/amd64 v1', '- v1']);
    assert.deepEqual(written.sort(), [...blobs.keys()].sort());
  });

  it('rewrites the indexes above a replaced manifest, keeping every other field', async () => {
    const replacement = Buffer.from(manifest(descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 'layer-a-plain')));
    const written = new Map<string, Buffer>();
    const result = await walkImage(root, {
      readBlob,
      writeBlob: async (bytes) => void written.set(sha256Digest(bytes), bytes),
      visitManifest: async ({ manifest: m }) => (m.layers[0]!.digest === layerA.digest ? replacement : null),
    });
    const newRoot = JSON.parse(result!.toString());
    assert.equal(newRoot.schemaVersion, 2);
    assert.equal(newRoot.manifests[0].annotations['org.opencontainers.image.ref.name'], 'v1');
    const newNested = JSON.parse(written.get(newRoot.manifests[0].digest)!.toString());
    assert.equal(newNested.manifests[0].digest, sha256Digest(replacement));
    assert.equal(newNested.manifests[0].size, replacement.length);
    assert.deepEqual(newNested.manifests[0].platform, platform);
    assert.equal(newNested.manifests[1].digest, digestOf(manifestB));
    assert.ok(written.has(sha256Digest(replacement)));
  });

  it('refuses a blob that does not match its descriptor', async () => {
    await assert.rejects(
      walkImage(root, { readBlob: async () => Buffer.from('tampered'), writeBlob: async () => {}, visitManifest: async () => null }),
      (error) => error instanceof ImageError && /does not match its descriptor/.test(error.message),
    );
  });
});

describe('media types and annotations', () => {
  it('strips +encrypted and nothing else', () => {
    assert.equal(decryptedMediaType('application/vnd.oci.image.layer.v1.tar+zstd+encrypted'), 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.equal(decryptedMediaType('application/vnd.oci.image.layer.v1.tar'), 'application/vnd.oci.image.layer.v1.tar');
  });

  it('knows which annotations ocicrypt adds', () => {
    assert.ok(isEncryptionAnnotation('org.opencontainers.image.enc.keys.jwe'));
    assert.ok(isEncryptionAnnotation('org.opencontainers.image.enc.keys.provider.kms'));
    assert.ok(isEncryptionAnnotation('org.opencontainers.image.enc.pubopts'));
    assert.ok(!isEncryptionAnnotation('org.opencontainers.image.title'));
  });
});

describe('inspectLayer on skopeo-made layers', () => {
  const layers = (tag: string): Descriptor[] => {
    const index = JSON.parse(readFileSync(join(OCI, 'layout', 'index.json'), 'utf8'));
    const entry = index.manifests.find((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'] === tag);
    const manifest = parseImageDocument(readFileSync(join(OCI, 'layout', 'blobs', 'sha256', entry.digest.slice(7))), tag);
    return manifest.kind === 'manifest' ? manifest.layers : [];
  };
  const candidate = (name: string) => ({ origin: name, schemes: ['jwe'], keys: assembleDecryptionKeys([{ path: name, bytes: readFileSync(join(OCI, 'keys', name)) }], new Map()) });

  it('shows JWE recipients and the keys that open a layer', async () => {
    const report = await inspectLayer(layers('two')[1]!, [candidate('rsa2048.pem'), candidate('ec256.pem'), candidate('other-rsa2048.pem')]);
    assert.equal(report.encrypted, true);
    assert.deepEqual(report.schemes, [{ scheme: 'jwe', items: 1, recipients: ['RSA-OAEP', 'ECDH-ES+A256KW P-256'] }]);
    assert.equal(report.cipher, 'AES_256_CTR_HMAC_SHA256');
    assert.deepEqual(report.openedBy, ['rsa2048.pem', 'ec256.pem']);
    assert.deepEqual(report.problems, []);
  });

  it('reports a plain layer as not encrypted and tries no key', async () => {
    const report = await inspectLayer(layers('partly')[0]!, [candidate('rsa2048.pem')]);
    assert.equal(report.encrypted, false);
    assert.equal(report.openedBy, null);
  });

  it('does not try local keys on a layer that only key providers wrap', async () => {
    const provider = parseImageDocument(readFileSync(join(FIXTURES, 'provider', 'layers', 'both-gzip', 'descriptor.json')), 'descriptor');
    assert.equal(provider.kind, 'descriptor');
    const report = await inspectLayer(provider.kind === 'descriptor' ? provider.descriptor : layers('two')[0]!, [candidate('rsa2048.pem')]);
    assert.deepEqual(report.schemes.map((scheme) => scheme.scheme), ['provider.test-command', 'provider.test-grpc']);
    assert.equal(report.openedBy, null);
  });

  it('names a layer problem once, whatever the number of keys', async () => {
    const layer = layers('partly')[1]!;
    const broken = { ...layer, annotations: new Map([...layer.annotations].filter(([name]) => name !== 'org.opencontainers.image.enc.pubopts')) };
    const report = await inspectLayer(broken, [candidate('rsa2048.pem'), candidate('ec256.pem')]);
    assert.deepEqual(report.openedBy, []);
    assert.equal(report.problems.length, 1);
    assert.match(report.problems[0]!, /no org\.opencontainers\.image\.enc\.pubopts annotation/);
  });
});

describe('text output', () => {
  it('aligns columns without trailing spaces', () => {
    assert.deepEqual(formatColumns([['a', 'bb', 'c'], ['ccc', 'd', '']]), ['a    bb  c', 'ccc  d']);
  });

  it('formats sizes and digests', () => {
    assert.equal(formatBytes(412), '412 B');
    assert.equal(formatBytes(1153434), '1.1 MiB');
    assert.equal(shortDigest(`sha256:${'ab'.repeat(32)}`), 'sha256:abababababab');
  });

  it('draws progress within the terminal width', () => {
    const digest = `sha256:${'0'.repeat(64)}`;
    const line = progressLine(digest, 50, 100, 80);
    assert.match(line, /^decrypting sha256:000000000000 \[#+\.+\]  50%  50 B of 100 B$/);
    assert.ok(line.length <= 80);
    assert.ok(progressLine(digest, 50, 100, 30).length < 30);
  });
});
