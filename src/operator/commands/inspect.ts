import { ImageError, UsageError } from '../../errors.ts';
import { inspectLayer, type KeyCandidate, type LayerReport } from '../inspect-image.ts';
import { isKeyProviderScheme } from '../../keywrap/annotations.ts';
import { parseImageDocument, parseRootIndex, walkImage, type Descriptor } from '../oci/image.ts';
import { openImage } from '../oci/image-files.ts';
import { EXIT_FAILURE, output, runCommand, type CommandSpec } from '../run-command.ts';
import { keyCandidates, localKeyInventory } from '../local-keys.ts';
import { printable } from '../../encoding/untrusted-text.ts';
import { formatBytes, formatColumns, shortDigest } from '../text.ts';
import { plural } from '../../encoding/plural.ts';

const SPEC: CommandSpec = {
  name: 'inspect',
  help: `Usage: ctd-decoder inspect [--decryption-keys-path DIR] [--json] IMAGE

Shows each layer's encryption: the key-wrap schemes, what the wrapped keys
reveal about their recipients (JWE: key algorithm, curve, key ID), and the
cipher. IMAGE is an OCI image layout directory, an OCI archive (tar), or a
JSON file holding a manifest or a single layer descriptor.

With --decryption-keys-path, every usable key of DIR is tried alone on every
encrypted layer, exactly as the decoder unwraps (no blob is read or
decrypted), and the keys that open each layer are named.

Exit status with --decryption-keys-path: 1 when some encrypted layer opens
with none of the keys; otherwise 0.
`,
  options: { 'decryption-keys-path': { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
};

const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

interface ManifestReport {
  digest: string | null;
  refName: string | null;
  platform: string | null;
  layers: LayerReport[];
}

export function run(argv: readonly string[]): Promise<number> {
  return runCommand(SPEC, argv, async (values, positionals) => {
    const imagePath = positionals[0]!;
    const keysDirectory = typeof values['decryption-keys-path'] === 'string' ? values['decryption-keys-path'] : null;
    let candidates: KeyCandidate[] | null = null;
    if (keysDirectory !== null) {
      const { entries, missing } = await localKeyInventory(keysDirectory);
      if (missing) throw new UsageError(`inspect: keys directory ${keysDirectory} does not exist`, 'give the directory that holds the private keys');
      candidates = keyCandidates(entries, keysDirectory);
    }

    const opened = openImage(imagePath);
    const manifests: ManifestReport[] = [];
    const inspectManifest = async (layers: readonly Descriptor[], descriptor: Descriptor | null): Promise<void> => {
      const reports: LayerReport[] = [];
      for (const layer of layers) reports.push(await inspectLayer(layer, candidates));
      manifests.push({
        digest: descriptor?.digest ?? null,
        refName: descriptor?.annotations.get(REF_NAME_ANNOTATION) ?? null,
        platform: descriptor?.platform ?? null,
        layers: reports,
      });
    };
    if (opened.kind === 'document') {
      const document = parseImageDocument(opened.bytes, opened.location);
      if (document.kind === 'index') {
        throw new ImageError(`${opened.location} is an image index: it names manifests, not layers`, 'give the image layout or archive, or one of its manifests');
      }
      await inspectManifest(document.kind === 'manifest' ? document.layers : [document.descriptor], null);
    } else {
      await walkImage(parseRootIndex(await opened.source.readIndex(), opened.source.location), {
        readBlob: (descriptor) => opened.source.readBlob(descriptor),
        writeBlob: async () => {},
        visitManifest: async ({ descriptor, manifest, parents }) => {
          const named = parents[0] ?? descriptor;
          await inspectManifest(manifest.layers, { ...descriptor, annotations: new Map([...named.annotations, ...descriptor.annotations]) });
          return null;
        },
      });
    }

    const unopened = manifests.flatMap((manifest) => manifest.layers).filter((layer) => layer.encrypted && layer.openedBy !== null && layer.openedBy.length === 0);
    output(
      values,
      () => describe(imagePath, opened.kind, manifests, candidates),
      () => ({ image: imagePath, kind: opened.kind, keysDirectory, manifests }),
    );
    return unopened.length > 0 ? EXIT_FAILURE : 0;
  });
}

const KIND_NAMES = { layout: 'OCI image layout', archive: 'OCI archive', document: 'JSON document' } as const;

function describe(imagePath: string, kind: keyof typeof KIND_NAMES, manifests: readonly ManifestReport[], candidates: readonly KeyCandidate[] | null): string[] {
  const lines = [`${printable(imagePath)} (${KIND_NAMES[kind]}${candidates === null ? '' : `, ${plural(candidates.length, 'usable key')} to try`})`];
  for (const manifest of manifests) {
    const labels = [
      manifest.digest === null ? null : `manifest ${shortDigest(manifest.digest)}`,
      manifest.refName === null ? null : `ref ${printable(manifest.refName)}`,
      manifest.platform === null ? null : printable(manifest.platform),
    ].filter((label) => label !== null);
    if (labels.length > 0) lines.push(labels.join('  '));
    const table = formatColumns(
      manifest.layers.map((layer, i) => [
        `  layer ${i + 1}`,
        shortDigest(layer.digest),
        printable(layer.mediaType),
        formatBytes(layer.size),
        layer.encrypted ? 'encrypted' : 'not encrypted',
      ]),
    );
    manifest.layers.forEach((layer, i) => {
      lines.push(table[i]!);
      if (!layer.encrypted) return;
      const details: string[][] = [];
      for (const scheme of layer.schemes) {
        const recipients =
          scheme.recipients !== null
            ? scheme.recipients.map((recipient) => printable(recipient)).join('; ')
            : `${plural(scheme.items, 'wrapped key')} (${isKeyProviderScheme(scheme.scheme) ? 'a key provider: not run by inspect' : 'recipients not described by this scheme'})`;
        details.push([printable(scheme.scheme), recipients]);
      }
      if (layer.unknownSchemes.length > 0) details.push(['unknown', layer.unknownSchemes.map((scheme) => printable(scheme)).join(', ')]);
      if (layer.cipher !== null) details.push(['cipher', printable(layer.cipher)]);
      if (layer.openedBy !== null) details.push(['opens with', layer.openedBy.length > 0 ? layer.openedBy.map((origin) => printable(origin)).join(', ') : 'none of the keys']);
      for (const problem of layer.problems) details.push(['problem', printable(problem)]);
      for (const line of formatColumns(details)) lines.push(`      ${line}`);
    });
  }
  return lines;
}
