import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DECODER_BIN, REPO_ROOT } from './paths.ts';
import { collectRun, type DecoderRun } from './run-decoder.ts';
import { temporaryDirectory } from './temporary.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/**
 * A containerd content store laid out as containerd lays it out:
 * <root>/io.containerd.content.v1.content/blobs/sha256/<hex>, each file named
 * by its sha256; manifests are OCI image manifests in it.
 */
export class TestContentStore {
  readonly root: string;
  readonly directory: string;
  readonly #blobs: string;
  #clock = Date.now() / 1000 - 3600;

  constructor(root = temporaryDirectory('ctd-decoder-store-')) {
    this.root = root;
    this.directory = join(root, 'io.containerd.content.v1.content');
    this.#blobs = join(this.directory, 'blobs', 'sha256');
    mkdirSync(this.#blobs, { recursive: true });
  }

  /** Writes a blob under its digest (or under `underDigest`, to fake a corrupt store); later blobs are newer. */
  addBlob(bytes: Buffer | string, underDigest?: string): string {
    const digest = underDigest ?? `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const path = this.blobPath(digest);
    writeFileSync(path, bytes);
    this.#clock += 1;
    utimesSync(path, this.#clock, this.#clock);
    return digest;
  }

  /** An OCI image manifest listing these layers (and a config blob of its own); returns its digest. */
  addManifest(layers: readonly Descriptor[]): string {
    const config = this.addBlob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: Math.random() }));
    return this.addBlob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 0 },
        layers,
      }),
    );
  }

  blobPath(digest: string): string {
    return join(this.#blobs, digest.replace(/^sha256:/, ''));
  }
}

export interface ParentRun {
  /** The blob file the parent streams to the decoder's stdin. */
  stream: string;
  /** Blob files the parent holds open while the decoder runs. */
  hold: readonly string[];
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** The parent's own arguments, as containerd's on its command line (e.g. --config FILE). */
  parentArgs?: readonly string[];
}

const NODE = process.execPath;
const PARENT_SCRIPT = join(REPO_ROOT, 'test', 'support', 'containerd-parent.ts');

let containerdNamedNode: string | undefined;

/**
 * Runs the decoder under a parent process that behaves like containerd
 * running a stream processor without a payload (test/support/containerd-parent.ts),
 * started through a symlink named "containerd" so that its command line reads as containerd's.
 */
export function runUnderParent(run: ParentRun): Promise<DecoderRun> {
  if (containerdNamedNode === undefined) {
    containerdNamedNode = join(temporaryDirectory('ctd-decoder-parent-'), 'containerd');
    symlinkSync(NODE, containerdNamedNode);
  }
  const child = spawn(containerdNamedNode, [PARENT_SCRIPT, ...(run.parentArgs ?? []), ':::', DECODER_BIN, run.stream, ...run.hold, '--', ...run.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { CTD_DECODER_HOLD_OUTPUT_MS: '0', ...(run.env ?? { PATH: process.env['PATH'] }) },
  });
  return collectRun(child);
}
