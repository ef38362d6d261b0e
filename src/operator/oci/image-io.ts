import type { Readable, Writable } from 'node:stream';
import type { Descriptor } from './image.ts';

/** Where an image is read from (an OCI layout directory or archive); implemented on files in image-files.ts. */
export interface ImageSource {
  /** What the operator named, for messages. */
  readonly location: string;
  /** The root index.json. */
  readIndex(): Promise<Buffer>;
  /** A small blob (manifest, index), whole. */
  readBlob(descriptor: Descriptor): Promise<Buffer>;
  /** A blob of any size, streamed. */
  openBlob(descriptor: Descriptor): Readable;
}

export interface BlobWriter {
  stream: Writable;
  /** Files the written bytes under their digest, once the stream has finished. */
  finish(digest: string): Promise<void>;
}

/** A new OCI image layout being written; nothing is visible at its path until `commit`. */
export interface ImageDestination {
  writeBlob(bytes: Buffer): Promise<void>;
  openBlobWriter(): BlobWriter;
  /** Writes index.json and oci-layout, then moves the finished layout into place. */
  commit(index: Buffer): Promise<void>;
}
