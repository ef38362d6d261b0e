import { unwrapLayerKey } from './unwrap-layer-key.ts';
import { keysForCall } from './call-keys.ts';
import { PayloadMissingError } from '../errors.ts';
import { decodePayload } from '../payload/payload.ts';
import { holdOutputPastExit, writeErrorLine } from '../platform/failure-output.ts';
import { decryptStandardStreams } from '../platform/layer-decrypt-stdio.ts';
import { readPayloadBytes } from '../platform/payload-source.ts';
import { HELP_TEXT, parseDecodeArguments } from './decode-arguments.ts';
import { errorLine } from './error-line.ts';
import { VERSION, verboseVersionText } from './version.ts';

const PAYLOAD_REQUIRED_HINT =
  'drop --require-payload to let the decoder find the layer in containerd\'s content store, or make containerd send the payload: ' +
  'CRI image_decryption.key_model = "node" (and on containerd >= 2.1 [plugins.\'io.containerd.cri.v1.images\'] use_local_image_pull = true), ' +
  'or pull with nerdctl / ctr-enc; plain ctr pulls and zstd processor IDs get no payload';

/** The containerd hot path: payload and keys in, decrypted layer out. Returns the exit code. */
export async function runDecode(argv: readonly string[]): Promise<number> {
  // One thread-pool thread, not libuv's 4: the decode queues one job at a
  // time there (the key unwrap), and each thread that ran one keeps its own
  // malloc arena.
  process.env['UV_THREADPOOL_SIZE'] ??= '1';
  let layerDigest: string | null = null;
  try {
    const args = parseDecodeArguments(argv);
    if (args.help || args.version) {
      process.stdout.write(args.help ? HELP_TEXT : args.verbose ? verboseVersionText() : `ctd-decoder ${VERSION}\n`);
      return 0;
    }
    const read = await readPayloadBytes(process.env, process.platform);
    const payload = read.bytes === null ? { parameters: new Map(), descriptor: null, missing: read.missing } : decodePayload(read.bytes);
    if (payload.descriptor === null) {
      if (args.requirePayload) throw new PayloadMissingError(`no decryption payload (${payload.missing}), and --require-payload is set`, PAYLOAD_REQUIRED_HINT);
      // Loaded only here: the payload path never runs (nor compiles) the content-store lookup.
      const { decryptWithoutPayload } = await import('./without-payload.ts');
      await decryptWithoutPayload({
        keysDirectory: args.keysDirectory,
        contentStore: args.contentStore,
        parameters: payload.parameters,
        env: process.env,
        reportLayer: (digest) => (layerDigest = digest),
      });
      return 0;
    }
    layerDigest = payload.descriptor.digest || null;

    const keys = keysForCall(args.keysDirectory, payload.parameters);
    const options = await unwrapLayerKey(payload.descriptor, keys);
    // stdin -> stdout with blocking I/O: I/O failures throw InputError or
    // OutputError, a failed HMAC IntegrityError with the tail withheld.
    decryptStandardStreams(options);
    return 0;
  } catch (error) {
    writeErrorLine(errorLine(error, layerDigest));
    holdOutputPastExit(process.env);
    return 1;
  }
}
