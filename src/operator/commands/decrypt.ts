import { decryptImage, type DecryptEvent } from '../decrypt-image.ts';
import { ImageError, UsageError } from '../../errors.ts';
import { keysWithDirectory } from '../../decode/call-keys.ts';
import { readKeysDirectory } from '../../platform/keys-directory.ts';
import { createLayoutDestination, openImage } from '../oci/image-files.ts';
import { runCommand, type CommandSpec } from '../run-command.ts';
import { progressLine } from '../progress.ts';
import { errorLine } from '../../decode/error-line.ts';
import { printable } from '../../encoding/untrusted-text.ts';
import { formatBytes, shortDigest } from '../text.ts';
import { plural } from '../../encoding/plural.ts';

const SPEC: CommandSpec = {
  name: 'decrypt',
  help: `Usage: ctd-decoder decrypt --decryption-keys-path DIR SOURCE DESTINATION

Decrypts every encrypted layer of an image offline, without containerd: SOURCE
is an OCI image layout directory or an OCI archive, DESTINATION a new OCI image
layout directory (it must not exist, or be empty). Layers get their media type
without "+encrypted", lose the ocicrypt annotations, and get the digest and
size of the decrypted blob; manifests and indexes are rewritten to match and
every other blob is copied. Blobs are checked against their digests and layers
against their HMAC; nothing appears at DESTINATION unless all of it succeeded.

On a terminal, large layers show their progress on stderr.
`,
  options: { 'decryption-keys-path': { type: 'string' } },
  positionals: { min: 2, max: 2 },
};

/** Layers smaller than this decrypt in a blink: no progress line for them. */
const PROGRESS_MIN_BYTES = 1024 * 1024;
const PROGRESS_INTERVAL_MS = 100;

export function run(argv: readonly string[]): Promise<number> {
  return runCommand(SPEC, argv, async (values, positionals) => {
    const keysDirectory = values['decryption-keys-path'];
    if (typeof keysDirectory !== 'string') throw new UsageError('decrypt: --decryption-keys-path DIR is required', 'run ctd-decoder decrypt --help');
    const [sourcePath, destinationPath] = positionals as [string, string];

    const directory = readKeysDirectory(keysDirectory);
    if (directory.missing) throw new UsageError(`decrypt: keys directory ${keysDirectory} does not exist`, 'give the directory that holds the private keys');
    const keys = keysWithDirectory(keysDirectory, directory, new Map());

    const opened = openImage(sourcePath);
    if (opened.kind === 'document') throw new ImageError(`${sourcePath} is a single JSON document, not an image with blobs`, 'give an OCI image layout directory or an OCI archive');
    const destination = await createLayoutDestination(destinationPath);
    const progress = new ProgressDisplay(process.stderr);
    let currentLayer: string | null = null;
    try {
      const summary = await decryptImage(opened.source, destination, keys, (event) => {
        if (event.type === 'layer-start') currentLayer = event.digest;
        if (event.type === 'layer-done') currentLayer = null;
        progress.show(event);
      });
      process.stdout.write(
        `${destinationPath}: ${plural(summary.decryptedLayers, 'layer')} decrypted, ${plural(summary.copiedBlobs, 'other blob')} copied, ${plural(summary.manifests, 'manifest')}\n`,
      );
      return 0;
    } catch (error) {
      progress.clear();
      await destination.abort();
      if (currentLayer === null) throw error;
      process.stderr.write(`${errorLine(error, currentLayer)}\n`);
      return 1;
    }
  });
}

/** Per-layer lines on stdout; on a terminal, a live progress line on stderr for large layers. */
class ProgressDisplay {
  readonly #terminal: NodeJS.WriteStream | null;
  #lastDrawn = 0;
  #drawn = false;

  constructor(stderr: NodeJS.WriteStream) {
    this.#terminal = stderr.isTTY ? stderr : null;
  }

  show(event: DecryptEvent): void {
    switch (event.type) {
      case 'layer-progress': {
        if (this.#terminal === null || event.size < PROGRESS_MIN_BYTES) return;
        const now = Date.now();
        if (event.bytes < event.size && now - this.#lastDrawn < PROGRESS_INTERVAL_MS) return;
        this.#lastDrawn = now;
        this.#terminal.write(`\r\x1b[K${progressLine(event.digest, event.bytes, event.size, this.#terminal.columns || 80)}`);
        this.#drawn = true;
        return;
      }
      case 'layer-done':
        this.clear();
        process.stdout.write(`decrypted ${shortDigest(event.digest)} -> ${shortDigest(event.decryptedDigest)}  ${printable(event.mediaType)}  ${formatBytes(event.size)}\n`);
        return;
      case 'warning':
        this.clear();
        process.stderr.write(`ctd-decoder: warning: ${printable(event.message, 1000)}\n`);
        return;
      case 'layer-start':
        return;
    }
  }

  clear(): void {
    if (this.#drawn) this.#terminal?.write('\r\x1b[K');
    this.#drawn = false;
  }
}
