// Decoding without a payload: the decoder finds the layer's descriptor in a
// real content-store layout. The parent process is a small node script that,
// like containerd running a stream processor, holds blob files open, streams
// one into the decoder's stdin and passes no fd 3 (test/support/containerd-parent.ts).
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertCodedFailure, assertDecrypted } from '../support/assertions.ts';
import { TestContentStore, runUnderParent, type Descriptor } from '../support/content-store.ts';
import { keysDirectoryWith, loadLayerCase, sha256, type LayerCase } from '../support/fixtures.ts';
import { encodeAny, encodePayload } from '../support/payload.ts';
import { runDecoder } from '../support/run-decoder.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const RSA_GZIP = loadLayerCase('jwe', 'rsa2048-gzip');
const RSA_ZSTD = loadLayerCase('jwe', 'rsa2048-zstd');
const EC_TAR = loadLayerCase('jwe', 'ec256-tar');
const rsaKeys = () => keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');
const bothKeys = () => keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem', 'ec256.pkcs8.pem');

const envFor = (layer: LayerCase, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: process.env['PATH'],
  STREAM_PROCESSOR_MEDIATYPE: layer.descriptor.mediaType,
  ...extra,
});

/** A store holding the layers' blobs and one manifest per layer list. */
function storeWith(layers: readonly LayerCase[], manifests: readonly (readonly Descriptor[])[] = [layers.map((l) => l.descriptor)]): TestContentStore {
  const store = new TestContentStore();
  for (const layer of layers) store.addBlob(layer.encrypted);
  for (const listed of manifests) store.addManifest(listed);
  return store;
}

describe('without a payload, the layer is looked up in containerd\'s content store', () => {
  it('finds the store and the blob from the parent\'s open files (no fd 3, no flags but the keys)', async () => {
    const store = storeWith([RSA_GZIP]);
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const run = await runUnderParent({ stream: blob, hold: [blob], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    assertDecrypted(run, RSA_GZIP);
  });

  it('several blobs open (parallel unpacks): the one whose first bytes are stdin\'s', async () => {
    const store = storeWith([RSA_GZIP, EC_TAR, RSA_ZSTD], [[RSA_GZIP.descriptor, RSA_ZSTD.descriptor], [EC_TAR.descriptor]]);
    const hold = [RSA_GZIP, EC_TAR, RSA_ZSTD].map((l) => store.blobPath(l.descriptor.digest));
    for (const layer of [EC_TAR, RSA_ZSTD]) {
      const run = await runUnderParent({ stream: store.blobPath(layer.descriptor.digest), hold, args: ['--decryption-keys-path', bothKeys()], env: envFor(layer) });
      assertDecrypted(run, layer);
    }
  });

  it('an empty fd 3, an empty Any, a Payload with a zero Descriptor: looked up like no fd 3 (--content-store, blob found through the manifests)', async () => {
    const store = storeWith([RSA_GZIP, EC_TAR], [[RSA_GZIP.descriptor], [EC_TAR.descriptor]]);
    const zeroDescriptor = encodePayload({ mediaType: '', digest: '', size: 0 });
    for (const payload of [Buffer.alloc(0), encodeAny('', Buffer.alloc(0)), zeroDescriptor]) {
      const run = await runDecoder({ args: ['--decryption-keys-path', rsaKeys(), '--content-store', store.root], stdin: RSA_GZIP.encrypted, payload, env: envFor(RSA_GZIP) });
      assertDecrypted(run, RSA_GZIP);
    }
  });

  it('the store from CTD_DECODER_CONTENT_STORE (the processor\'s env), given as the content plugin directory', async () => {
    const store = storeWith([EC_TAR]);
    const run = await runDecoder({
      args: ['--decryption-keys-path', bothKeys()],
      stdin: EC_TAR.encrypted,
      payload: 'none',
      env: envFor(EC_TAR, { CTD_DECODER_CONTENT_STORE: store.directory }),
    });
    assertDecrypted(run, EC_TAR);
  });

  it('the store from `root` in containerd\'s --config file, when the parent holds no blob open', async () => {
    const store = storeWith([RSA_GZIP]);
    const config = join(temporaryDirectory(), 'config.toml');
    writeFileSync(config, `version = 2\nroot = ${JSON.stringify(store.root)}\nstate = "/run/nowhere"\n`);
    const run = await runUnderParent({
      stream: store.blobPath(RSA_GZIP.descriptor.digest),
      hold: [],
      parentArgs: ['--config', config],
      args: ['--decryption-keys-path', rsaKeys()],
      env: envFor(RSA_GZIP),
    });
    assertDecrypted(run, RSA_GZIP);
  });

  it('two manifests describe the blob differently: the newer one does not unwrap with the node key, the older one does', async () => {
    const foreignKeys = { ...RSA_GZIP.descriptor, annotations: { ...EC_TAR.descriptor.annotations } };
    const store = new TestContentStore();
    store.addBlob(RSA_GZIP.encrypted);
    store.addManifest([RSA_GZIP.descriptor]);
    store.addManifest([foreignKeys]); // newer: tried first
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const run = await runUnderParent({ stream: blob, hold: [blob], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    assertDecrypted(run, RSA_GZIP);
  });

  it('manifests that are not JSON, indexes, configs and large blobs are skipped, never fatal', async () => {
    const store = new TestContentStore();
    store.addBlob(RSA_GZIP.encrypted);
    store.addManifest([RSA_GZIP.descriptor]);
    store.addBlob(`{"layers": [{"digest": "${RSA_GZIP.descriptor.digest}", "mediaType": 7}]`); // cut short
    store.addBlob(JSON.stringify({ layers: [{ digest: RSA_GZIP.descriptor.digest, mediaType: 5, annotations: [] }] }));
    store.addBlob(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [RSA_GZIP.descriptor] }));
    store.addBlob(Buffer.concat([Buffer.from('{'), Buffer.alloc(5 * 1024 * 1024, 0x20), Buffer.from(RSA_GZIP.descriptor.digest)]));
    store.addBlob(Buffer.from([0xff, 0xfe, 0x7b]));
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const run = await runUnderParent({ stream: blob, hold: [blob], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    assertDecrypted(run, RSA_GZIP);
  });
});

describe('without a payload, each failure is its own coded line', () => {
  it('stdin altered after the bytes that identify it: ERR_INTEGRITY, the tail withheld', async () => {
    const store = storeWith([RSA_GZIP]);
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const tampered = Buffer.from(RSA_GZIP.encrypted);
    tampered[tampered.length - 10]! ^= 1;
    const streamed = join(temporaryDirectory(), 'tampered');
    writeFileSync(streamed, tampered);
    const run = await runUnderParent({ stream: streamed, hold: [blob], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    assertCodedFailure(run, 'ERR_INTEGRITY', { layer: RSA_GZIP });
    assert.ok(run.stdout.length < RSA_GZIP.plain.length, 'the whole layer was released');
  });

  it('a blob whose bytes are not its digest, HMAC intact: ERR_INTEGRITY from the digest check, the tail withheld', async () => {
    // A corrupt store: the file named by one digest holds another blob, and a manifest lists that name with the content's own annotations.
    const store = new TestContentStore();
    const wrongName = `sha256:${sha256(Buffer.from('some other layer'))}`;
    store.addBlob(RSA_GZIP.encrypted, wrongName);
    store.addManifest([{ ...RSA_GZIP.descriptor, digest: wrongName }]);
    const blob = store.blobPath(wrongName);
    const run = await runUnderParent({ stream: blob, hold: [blob], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    const match = assertCodedFailure(run, 'ERR_INTEGRITY', { layer: { descriptor: { digest: wrongName } } });
    assert.match(match[0], new RegExp(`stdin is ${RSA_GZIP.descriptor.digest}`));
    assert.ok(run.stdout.length < RSA_GZIP.plain.length, 'the whole layer was released');
  });

  it('no manifest lists the blob: ERR_NO_MANIFEST naming the store', async () => {
    const store = new TestContentStore();
    store.addBlob(RSA_GZIP.encrypted);
    store.addManifest([EC_TAR.descriptor]);
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const run = await runUnderParent({ stream: blob, hold: [blob], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    const match = assertCodedFailure(run, 'ERR_NO_MANIFEST', { layer: RSA_GZIP, noOutput: true });
    assert.ok(match[0].includes(store.directory), match[0]);
  });

  it('a manifest lists the blob under another media type than containerd names: ERR_NO_MANIFEST', async () => {
    const store = storeWith([RSA_GZIP]);
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const run = await runUnderParent({
      stream: blob,
      hold: [blob],
      args: ['--decryption-keys-path', rsaKeys()],
      env: envFor(RSA_GZIP, { STREAM_PROCESSOR_MEDIATYPE: 'application/vnd.oci.image.layer.v1.tar+encrypted' }),
    });
    assertCodedFailure(run, 'ERR_NO_MANIFEST', { layer: RSA_GZIP, noOutput: true });
  });

  it('no node key opens it: the unwrap failure (ERR_NO_MATCHING_KEY) naming the layer', async () => {
    const store = storeWith([RSA_GZIP]);
    const blob = store.blobPath(RSA_GZIP.descriptor.digest);
    const run = await runUnderParent({ stream: blob, hold: [blob], args: ['--decryption-keys-path', keysDirectoryWith('jwe', 'wrong-rsa2048.pkcs8.pem')], env: envFor(RSA_GZIP) });
    assertCodedFailure(run, 'ERR_NO_MATCHING_KEY', { layer: RSA_GZIP, noOutput: true });
  });

  it('the layer is in no store we can find: ERR_BLOB_NOT_FOUND naming the store and what was compared', async () => {
    const store = storeWith([EC_TAR]);
    const run = await runDecoder({ args: ['--decryption-keys-path', rsaKeys(), '--content-store', store.root], stdin: RSA_GZIP.encrypted, payload: 'none', env: envFor(RSA_GZIP) });
    const match = assertCodedFailure(run, 'ERR_BLOB_NOT_FOUND', { layer: null, noOutput: true });
    assert.ok(match[0].includes(store.directory) && match[0].includes('--content-store'), match[0]);
  });

  it('--content-store names no store: ERR_CONTENT_STORE naming it', async () => {
    const missing = join(temporaryDirectory(), 'nothing-here');
    const run = await runDecoder({ args: ['--decryption-keys-path', rsaKeys(), '--content-store', missing], stdin: RSA_GZIP.encrypted, payload: 'none', env: envFor(RSA_GZIP) });
    const match = assertCodedFailure(run, 'ERR_CONTENT_STORE', { layer: null, noOutput: true });
    assert.ok(match[0].includes(missing), match[0]);
  });

  it('no store anywhere (parent holds none, its config names an empty root, no default store): ERR_CONTENT_STORE listing each place and the fixes', async (t) => {
    if (existsSync('/var/lib/containerd/io.containerd.content.v1.content')) return t.skip('this machine has a containerd store at /var/lib/containerd');
    const empty = temporaryDirectory();
    const config = join(empty, 'config.toml');
    writeFileSync(config, `root = ${JSON.stringify(join(empty, 'root'))}\n`);
    const streamed = join(empty, 'layer');
    writeFileSync(streamed, RSA_GZIP.encrypted);
    const run = await runUnderParent({ stream: streamed, hold: [], parentArgs: ['--config', config], args: ['--decryption-keys-path', rsaKeys()], env: envFor(RSA_GZIP) });
    const match = assertCodedFailure(run, 'ERR_CONTENT_STORE', { layer: null, noOutput: true });
    for (const text of [join(empty, 'root'), '/var/lib/containerd', '--content-store', 'use_local_image_pull']) assert.ok(match[0].includes(text), `${text} not in ${match[0]}`);
  });

  it('--require-payload: upstream\'s strictness, ERR_NO_PAYLOAD saying how to get a payload or drop the flag', async () => {
    const store = storeWith([RSA_GZIP]);
    const run = await runDecoder({
      args: ['--decryption-keys-path', rsaKeys(), '--content-store', store.root, '--require-payload'],
      stdin: RSA_GZIP.encrypted,
      payload: 'none',
      env: envFor(RSA_GZIP),
    });
    const match = assertCodedFailure(run, 'ERR_NO_PAYLOAD', { layer: null, noOutput: true });
    assert.match(match[0], /no decryption payload \(fd 3 [^)]*\), and --require-payload is set/);
  });

  it('with a payload nothing is looked up: a payload naming a layer not in any store still decrypts', async () => {
    const run = await runDecoder({
      args: ['--decryption-keys-path', rsaKeys(), '--content-store', join(temporaryDirectory(), 'absent')],
      stdin: RSA_GZIP.encrypted,
      payload: encodePayload(RSA_GZIP.descriptor),
    });
    assertDecrypted(run, RSA_GZIP);
  });
});
