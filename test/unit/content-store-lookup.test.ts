// The payload-less lookup's parts on real files: manifest parsing, the
// payload forms that mean "no payload", the blob and descriptor search in a
// content-store layout (this test process plays containerd, holding blobs
// open), and the digest check that binds the stream to the descriptor.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { HELD_BACK_BYTES, LayerDecryption } from '../../src/blockcipher/layer-decrypt.ts';
import { leaseSiblings } from '../../src/decode/containerd-leases.ts';
import { findLayer, STDIN_PREFIX_BYTES, type LookupInputs } from '../../src/decode/content-store-lookup.ts';
import { BlobNotFoundError, ContentStoreNotFoundError, IntegrityError } from '../../src/errors.ts';
import { encryptedLayersOf } from '../../src/payload/manifest-layers.ts';
import { decodePayload } from '../../src/payload/payload.ts';
import { openContentBlobs } from '../../src/platform/content-store-files.ts';
import { TestContentStore } from '../support/content-store.ts';
import { encryptLayer } from '../support/layer-cipher.ts';
import { encodeAny, encodePayload } from '../support/payload.ts';
import { temporaryDirectory } from '../support/temporary.ts';
import { lenField, stringField, unaryCall } from '../e2e/grpc.ts';

const GZIP_ENC = 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted';
const hexOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('encryptedLayersOf: what a manifest says about its encrypted layers', () => {
  it('OCI and Docker schema 2 manifests: only +encrypted layers, with annotations', () => {
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:aa', size: 1 },
        { mediaType: GZIP_ENC, digest: 'sha256:bb', size: 2, annotations: { 'org.opencontainers.image.enc.keys.jwe': 'x' } },
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip+encrypted', digest: 'sha256:cc', size: 3 },
      ],
    });
    const layers = encryptedLayersOf(manifest);
    assert.deepEqual(layers.map((layer) => layer.digest), ['sha256:bb', 'sha256:cc']);
    assert.equal(layers[0]!.annotations.get('org.opencontainers.image.enc.keys.jwe'), 'x');
  });

  for (const [what, text] of [
    ['not JSON', '{"layers": ['],
    ['an array', '[]'],
    ['an index', JSON.stringify({ manifests: [{ mediaType: GZIP_ENC, digest: 'sha256:bb' }] })],
    ['layers not an array', JSON.stringify({ layers: { mediaType: GZIP_ENC } })],
  ]) {
    it(`${what}: no layers, no error`, () => assert.deepEqual(encryptedLayersOf(text!), []));
  }

  it('a layer with a field of the wrong type is skipped, the others kept', () => {
    const text = JSON.stringify({ layers: [{ mediaType: GZIP_ENC, digest: 7 }, { mediaType: GZIP_ENC, digest: 'sha256:bb', annotations: { a: 1 } }, { mediaType: GZIP_ENC, digest: 'sha256:cc' }] });
    assert.deepEqual(encryptedLayersOf(text).map((layer) => layer.digest), ['sha256:cc']);
  });
});

describe('decodePayload: what containerd sends when it has no payload', () => {
  for (const [what, bytes] of [
    ['empty fd 3', Buffer.alloc(0)],
    ['an empty Any', encodeAny('', Buffer.alloc(0))],
    ['a Payload without Descriptor', encodeAny('io.containerd.ocicrypt.v1.Payload', Buffer.from('{"DecryptConfig":{"Parameters":{"privkeys":["a2V5"]}}}'))],
    ['a Payload with a zero Descriptor', encodePayload({ mediaType: '', digest: '', size: 0 })],
  ] as const) {
    it(`${what}: no descriptor, parameters kept`, () => {
      const payload = decodePayload(bytes);
      assert.equal(payload.descriptor, null);
      if (what === 'a Payload without Descriptor') assert.equal(payload.parameters.get('privkeys')?.[0]?.toString(), 'key');
    });
  }

  it('a Payload naming a layer is a payload', () => {
    assert.equal(decodePayload(encodePayload({ mediaType: GZIP_ENC, digest: 'sha256:bb', size: 1 })).descriptor?.digest, 'sha256:bb');
  });
});

describe('findLayer: the blob and its descriptors in a content store', () => {
  const held: number[] = [];
  after(() => held.forEach((fd) => closeSync(fd)));
  const layer = (size: number) => randomBytes(size);
  const inputs = (stdin: Buffer, extra: Partial<LookupInputs> = {}): LookupInputs => ({
    contentStore: null,
    parentPid: process.pid,
    mediaType: GZIP_ENC,
    uid: 0,
    env: {},
    stdinStart: stdin.subarray(0, STDIN_PREFIX_BYTES),
    stdinEnded: stdin.length < STDIN_PREFIX_BYTES,
    ...extra,
  });

  it('sees the blobs a process holds open, newest descriptor first, and which store they are in', () => {
    const store = new TestContentStore();
    const older = store.addBlob(layer(100));
    const newer = store.addBlob(layer(100));
    held.push(openSync(store.blobPath(older), 'r'), openSync(store.blobPath(newer), 'r'));
    const open = [...openContentBlobs(process.pid)].filter((blob) => blob.contentStore === store.directory);
    assert.deepEqual(open.map((blob) => blob.hex), [newer.slice(7), older.slice(7)]);
  });

  it('the open blob whose first bytes are stdin\'s, its descriptors newest manifest first', async () => {
    const store = new TestContentStore();
    const blobs = [layer(10_000), layer(10_000), layer(300)];
    const digests = blobs.map((bytes) => store.addBlob(bytes));
    for (const digest of digests) held.push(openSync(store.blobPath(digest), 'r'));
    store.addManifest([{ mediaType: GZIP_ENC, digest: digests[1]!, size: 10_000, annotations: { older: '1' } }]);
    store.addManifest([{ mediaType: GZIP_ENC, digest: digests[1]!, size: 10_000, annotations: { newer: '1' } }, { mediaType: GZIP_ENC, digest: digests[2]!, size: 300 }]);
    const found = await findLayer(inputs(blobs[1]!));
    assert.equal(found.hex, digests[1]!.slice(7));
    assert.deepEqual([...found.descriptors].map((descriptor) => [...descriptor.annotations.keys()]), [['newer'], ['older']]);
    // A short layer (stdin ends within the prefix) must match the whole blob, not just its start.
    assert.equal((await findLayer(inputs(blobs[2]!))).hex, digests[2]!.slice(7));
    await assert.rejects(findLayer(inputs(blobs[2]!.subarray(0, 200))), BlobNotFoundError);
  });

  it('no blob open: the encrypted layers of the right media type that manifests list', async () => {
    const store = new TestContentStore();
    const wanted = layer(5000);
    const other = layer(5000);
    const digest = store.addBlob(wanted);
    const otherDigest = store.addBlob(other);
    store.addManifest([{ mediaType: GZIP_ENC, digest, size: 5000 }, { mediaType: GZIP_ENC, digest: otherDigest, size: 5000 }]);
    const found = await findLayer(inputs(wanted, { contentStore: { path: store.root, origin: '--content-store' }, parentPid: 1 }));
    assert.equal(found.hex, digest.slice(7));
    assert.equal([...found.descriptors].length, 1);
    // Listed under another media type than containerd names: not a candidate.
    await assert.rejects(findLayer(inputs(wanted, { contentStore: { path: store.root, origin: '--content-store' }, parentPid: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar+encrypted' })), BlobNotFoundError);
  });

  it('the store from --root or `root` in the parent\'s config, else the defaults: each place named when none has one', async () => {
    const empty = temporaryDirectory();
    const error = await findLayer(inputs(layer(10), { parentPid: 1, uid: 1000, env: { XDG_DATA_HOME: empty } })).then(
      () => null,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof ContentStoreNotFoundError, String(error));
    assert.ok(error.message.includes(`"${join(empty, 'containerd')}": no content store`), error.message);
    assert.match(error.message, /the command line of pid 1: not containerd|\/etc\/containerd\/config\.toml/);
  });
});

describe('LayerDecryption with the blob digest (payload-less calls)', () => {
  it('the right digest: the whole layer, after the HMAC and the digest', () => {
    const plain = randomBytes(200_000);
    const { ciphertext, options } = encryptLayer(plain);
    const decryption = new LayerDecryption(options(), hexOf(ciphertext));
    const released: Buffer[] = [];
    decryption.update(ciphertext, (piece) => released.push(piece));
    decryption.final((piece) => released.push(piece));
    assert.ok(Buffer.concat(released).equals(plain));
  });

  it('another digest, HMAC intact: IntegrityError, the tail withheld', () => {
    const plain = randomBytes(200_000);
    const { ciphertext, options } = encryptLayer(plain);
    const decryption = new LayerDecryption(options(), hexOf(Buffer.from('another blob')));
    const released: Buffer[] = [];
    decryption.update(ciphertext, (piece) => released.push(piece));
    assert.throws(() => decryption.final((piece) => released.push(piece)), IntegrityError);
    assert.ok(Buffer.concat(released).length <= plain.length - HELD_BACK_BYTES);
  });
});

/** containerd itself, to write a real metadata database (skipped without containerd or root, except in CI). */
function containerdSkip(): string | false {
  let found = true;
  try {
    execFileSync('containerd', ['--version'], { stdio: 'ignore' });
  } catch {
    found = false;
  }
  if (found && process.getuid?.() === 0) return false;
  if (process.env['CI'] === 'true') throw new Error('containerd (as root) is needed for the lease test in CI');
  return 'needs containerd, as root';
}

describe('leaseSiblings: the blobs of the containerd lease holding a layer, from a real metadata database', { skip: containerdSkip() }, () => {
  it('finds the lease\'s other blobs (the manifest), in a handful of page reads; nothing for a blob no lease holds', async () => {
    const root = temporaryDirectory('ctd-decoder-meta-');
    const socket = join(root, 'c.sock');
    writeFileSync(
      join(root, 'config.toml'),
      `version = 2\nroot = "${root}/root"\nstate = "${root}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${socket}"\n`,
    );
    const daemon = spawn('containerd', ['--config', join(root, 'config.toml')], { stdio: 'ignore' });
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    const digests = ['manifest', 'config', 'layer', 'other image'].map((what) => `sha256:${hexOf(Buffer.from(what))}`);
    try {
      for (let i = 0; !existsSync(socket); i++) {
        if (i > 200) throw new Error('containerd did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      const call = (method: string, body: Buffer) =>
        unaryCall(socket, `/containerd.services.leases.v1.Leases/${method}`, body, { timeoutMs: 10_000, metadata: { 'containerd-namespace': 'k8s.io' } });
      const hold = async (lease: string, held: string[]) => {
        await call('Create', stringField(1, lease));
        for (const digest of held) await call('AddResource', Buffer.concat([stringField(1, lease), lenField(2, Buffer.concat([stringField(1, digest), stringField(2, 'content')]))]));
      };
      await hold('pull-1', digests.slice(0, 3));
      await hold('pull-2', [digests[3]!]);
    } finally {
      daemon.kill('SIGTERM');
      await exited;
    }
    const fd = openSync(join(root, 'root', 'io.containerd.metadata.v1.bolt', 'meta.db'), 'r');
    let reads = 0;
    const readAt = (offset: number, length: number) => {
      reads++;
      const bytes = Buffer.alloc(length);
      return bytes.subarray(0, readSync(fd, bytes, 0, length, offset));
    };
    try {
      assert.deepEqual(leaseSiblings(readAt, digests[2]!).sort(), [digests[0]!, digests[1]!].sort());
      assert.ok(reads < 20, `${reads} reads`);
      assert.deepEqual(leaseSiblings(readAt, `sha256:${hexOf(Buffer.from('not held'))}`), []);
      assert.deepEqual(leaseSiblings(() => Buffer.from('not a bbolt file'), digests[2]!), []);
    } finally {
      closeSync(fd);
    }
  });
});
