import { LayerDecryption } from '../blockcipher/layer-decryption.ts';
import { unwrapLayer } from '../decrypt-layer.ts';
import { PayloadMissingError } from '../errors.ts';
import { assembleDecryptionKeys } from '../keys/decryption-keys.ts';
import { decodePayload } from '../payload/payload.ts';
import { readKeysDirectory } from '../platform/keys-directory.ts';
import { holdOutputPastExit, writeErrorLine } from '../platform/failure-output.ts';
import { decryptStandardStreams } from '../platform/layer-pipe.ts';
import { readPayloadBytes } from '../platform/payload-source.ts';
import { HELP_TEXT, parseDecodeArguments } from './args.ts';
import { errorLine } from './report.ts';
import { VERSION, verboseVersionText } from './version.ts';

const NO_PAYLOAD_HINT =
  'containerd sends keys only when the pull asks for decryption: set CRI image_decryption.key_model = "node" ' +
  "(and on containerd >= 2.1 [plugins.'io.containerd.cri.v1.images'] use_local_image_pull = true), " +
  'or pull with nerdctl / ctr-enc; plain ctr pulls and zstd processor IDs get no payload';

/** The containerd hot path: payload and keys in, decrypted layer out. Returns the exit code. */
export async function runDecode(argv: readonly string[]): Promise<number> {
  let layerDigest: string | null = null;
  try {
    const args = parseDecodeArguments(argv);
    if (args.help || args.version) {
      process.stdout.write(args.help ? HELP_TEXT : args.verbose ? verboseVersionText() : `ctd-decoder ${VERSION}\n`);
      return 0;
    }
    const { bytes: payloadBytes, missing } = await readPayloadBytes(process.env, process.platform);
    if (payloadBytes === null) throw new PayloadMissingError(`no decryption payload (${missing})`, NO_PAYLOAD_HINT);
    const payload = decodePayload(payloadBytes);
    layerDigest = payload.descriptor.digest || null;

    const directory = args.keysDirectory === null ? null : readKeysDirectory(args.keysDirectory);
    const keys = assembleDecryptionKeys(directory?.files ?? [], payload.parameters);
    if (directory?.missing) keys.unusable.unshift({ origin: args.keysDirectory!, reason: 'directory does not exist' });
    for (const skipped of directory?.skipped ?? []) keys.unusable.push({ origin: skipped.path, reason: skipped.reason });

    const options = await unwrapLayer(payload.descriptor, keys);
    // stdin -> stdout with blocking I/O: I/O failures throw InputError or
    // OutputError, a failed HMAC IntegrityError with the tail withheld.
    decryptStandardStreams(new LayerDecryption(options));
    return 0;
  } catch (error) {
    writeErrorLine(errorLine(error, layerDigest));
    holdOutputPastExit(process.env);
    return 1;
  }
}
