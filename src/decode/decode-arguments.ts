import { UsageError } from '../errors.ts';

export interface DecodeArguments {
  keysDirectory: string | null;
  /** Where containerd's content store is, for calls without a payload. */
  contentStore: string | null;
  /** Refuse to run without a payload (upstream's behaviour) instead of looking the layer up. */
  requirePayload: boolean;
  help: boolean;
  version: boolean;
  /** With --version: list the bundled packages too. */
  verbose: boolean;
}

const STRING_FLAGS = new Map<string, { field: 'keysDirectory' | 'contentStore'; example: string }>([
  ['decryption-keys-path', { field: 'keysDirectory', example: 'give the keys directory, e.g. --decryption-keys-path /etc/containerd/ocicrypt/keys' }],
  ['content-store', { field: 'contentStore', example: "give containerd's root, e.g. --content-store /var/lib/containerd" }],
]);
const BOOLEAN_FLAGS = new Map<string, 'help' | 'version' | 'requirePayload' | 'verbose'>([
  ['help', 'help'],
  ['h', 'help'],
  ['version', 'version'],
  ['require-payload', 'requirePayload'],
  ['verbose', 'verbose'],
]);

/**
 * The stream processor's command line, read as Go's flag package reads
 * imgcrypt's: `-flag value`, `--flag value`, `-flag=value`, `--flag=value`.
 * containerd passes whatever `args` the operator configured.
 */
export function parseDecodeArguments(argv: readonly string[]): DecodeArguments {
  const parsed: DecodeArguments = { keysDirectory: null, contentStore: null, requirePayload: false, help: false, version: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument "${argv[i + 1]}"`, 'run ctd-decoder --help');
      break;
    }
    const match = /^--?([^=-][^=]*)(?:=(.*))?$/s.exec(arg);
    if (match === null) throw new UsageError(`unexpected argument "${arg}"`, 'run ctd-decoder --help');
    const name = match[1]!;
    const inlineValue = match[2];
    const booleanFlag = BOOLEAN_FLAGS.get(name);
    if (booleanFlag !== undefined) {
      if (inlineValue !== undefined && inlineValue !== 'true' && inlineValue !== 'false') {
        throw new UsageError(`flag -${name} takes no value`, 'run ctd-decoder --help');
      }
      parsed[booleanFlag] = inlineValue !== 'false';
      continue;
    }
    const stringFlag = STRING_FLAGS.get(name);
    if (stringFlag !== undefined) {
      const value = inlineValue ?? argv[++i];
      if (value === undefined) throw new UsageError(`flag -${name} needs a value`, stringFlag.example);
      parsed[stringFlag.field] = value;
    } else {
      throw new UsageError(`unknown flag "${arg}"`, 'run ctd-decoder --help');
    }
  }
  if (parsed.verbose && !parsed.version) throw new UsageError('flag --verbose goes with --version', 'run ctd-decoder --version --verbose');
  return parsed;
}

export const HELP_TEXT = `ctd-decoder: decrypts an ocicrypt-encrypted OCI image layer for containerd

Usage (run by containerd as a stream processor):
  ctd-decoder [--decryption-keys-path DIR] < encrypted-layer 3< payload > layer

  --decryption-keys-path DIR  private keys, certificates, OpenPGP keyrings and
                              PKCS#11 key files (read recursively; symlinks that
                              stay inside DIR are followed)
  --content-store DIR         containerd's root (or its content store), where
                              the layer's descriptor is looked up when there is
                              no payload (also CTD_DECODER_CONTENT_STORE; by
                              default found from containerd's open files, its
                              config, /var/lib/containerd)
  --require-payload           fail without a payload instead of looking the
                              layer up (the upstream decoder's behaviour)
  --help                      this text
  --version                   the version
  --version --verbose         the version, the Node runtime and the bundled
                              packages with their licences

containerd passes the encrypted layer on stdin and the decryption payload
(the layer descriptor and any keys) on fd 3; the decrypted layer, still in
its tar / tar+gzip / tar+zstd form, goes to stdout. Without a payload (plain
ctr pull, ctr import, containerd 2.1's transfer service, a zstd processor ID)
the descriptor comes from the image's manifest in containerd's content store,
and the layer must have that descriptor's digest. On failure it exits 1
with one line on stderr: "ctd-decoder: ERR_<CODE> layer <digest>: <what> — <fix>".

For operators (each takes --help):
  ctd-decoder keys [DIR]            what the decoder makes of each key file
  ctd-decoder inspect IMAGE         each layer's encryption, and which keys open it
  ctd-decoder decrypt --decryption-keys-path DIR SOURCE DESTINATION
                                    decrypt an OCI layout offline
  ctd-decoder doctor [--config FILE]
                                    check containerd's configuration for decryption
`;
