// Reading an image from disk reads no more of a manifest or an index than
// MAX_DOCUMENT_BYTES, whatever the file's size or a tar header claims: a
// hostile layout or archive gets ERR_IMAGE, not an allocation of its choosing.
// The large files are sparse: they cost no disk.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ImageError } from '../../src/errors.ts';
import { MAX_DOCUMENT_BYTES } from '../../src/limits.ts';
import { parseDescriptor } from '../../src/operator/oci/image.ts';
import { openImage } from '../../src/operator/oci/image-files.ts';
import { temporaryDirectory } from '../support/temporary.ts';

/** Larger than Node will read into one buffer: without the limit, this is an internal error. */
const HUGE = 3 * 1024 * 1024 * 1024;
const OCI_LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}\n');
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const manifestDescriptor = parseDescriptor({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 100 }, 'test');

const tooLarge = (where: RegExp) => (error: Error) => error instanceof ImageError && where.test(error.message) && /too large for an index or manifest/.test(error.message);

function layout(): string {
  const dir = temporaryDirectory();
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), OCI_LAYOUT);
  return dir;
}

function sparse(path: string, size: number): void {
  writeFileSync(path, '{');
  truncateSync(path, size);
}

/** A ustar header for a regular file (GNU tar reads it back, see the test below). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

/** oci-layout, then `name` claiming `size` bytes (sparse). */
function archive(name: string, size: number): string {
  const path = join(temporaryDirectory(), 'image.tar');
  const fd = openSync(path, 'w');
  writeSync(fd, Buffer.concat([tarHeader('oci-layout', OCI_LAYOUT.length), OCI_LAYOUT, Buffer.alloc(512 - OCI_LAYOUT.length), tarHeader(name, size)]));
  closeSync(fd);
  truncateSync(path, 3 * 512 + Math.ceil(size / 512) * 512 + 1024);
  return path;
}

describe('documents are read up to MAX_DOCUMENT_BYTES', () => {
  it('a layout whose index.json is 3 GiB', async () => {
    const dir = layout();
    sparse(join(dir, 'index.json'), HUGE);
    const opened = openImage(dir);
    assert.ok(opened.kind === 'layout');
    await assert.rejects(opened.source.readIndex(), tooLarge(/index\.json is larger than 4194304 bytes/));
  });

  it('a layout blob larger than the limit, whatever its descriptor says', async () => {
    const dir = layout();
    sparse(join(dir, 'blobs', 'sha256', 'ab'.repeat(32)), MAX_DOCUMENT_BYTES + 1);
    const opened = openImage(dir);
    assert.ok(opened.kind === 'layout');
    await assert.rejects(opened.source.readBlob(manifestDescriptor), tooLarge(new RegExp(`blob ${DIGEST} is larger than ${MAX_DOCUMENT_BYTES} bytes`)));
  });

  it('a layout blob that is a FIFO is refused, not waited on', async () => {
    const dir = layout();
    execFileSync('mkfifo', [join(dir, 'blobs', 'sha256', 'ab'.repeat(32))]);
    const opened = openImage(dir);
    assert.ok(opened.kind === 'layout');
    await assert.rejects(opened.source.readBlob(manifestDescriptor), (error: Error) => error instanceof ImageError && /is not a regular file/.test(error.message));
  });

  it('an archive whose tar header gives index.json 3 GiB', async () => {
    const path = archive('index.json', HUGE);
    assert.equal(execFileSync('tar', ['-tvf', path], { encoding: 'utf8' }).includes(String(HUGE)), true, 'GNU tar reads the same size');
    const opened = openImage(path);
    assert.ok(opened.kind === 'archive');
    await assert.rejects(opened.source.readIndex(), tooLarge(/image\.tar index\.json is 3221225472 bytes/));
  });

  it('an archive blob entry one byte over the limit', async () => {
    const opened = openImage(archive(`blobs/sha256/${'ab'.repeat(32)}`, MAX_DOCUMENT_BYTES + 1));
    assert.ok(opened.kind === 'archive');
    await assert.rejects(opened.source.readBlob(manifestDescriptor), tooLarge(new RegExp(`blob ${DIGEST} is ${MAX_DOCUMENT_BYTES + 1} bytes`)));
  });

  it('documents at the limit are read whole', async () => {
    const dir = layout();
    sparse(join(dir, 'index.json'), MAX_DOCUMENT_BYTES);
    const opened = openImage(dir);
    assert.ok(opened.kind === 'layout');
    assert.equal((await opened.source.readIndex()).length, MAX_DOCUMENT_BYTES);
    const fromArchive = openImage(archive('index.json', MAX_DOCUMENT_BYTES));
    assert.ok(fromArchive.kind === 'archive');
    assert.equal((await fromArchive.source.readIndex()).length, MAX_DOCUMENT_BYTES);
  });
});
