import { UsageError } from '../errors.ts';

export interface DecodeArguments {
  keysDirectory: string | null;
  help: boolean;
  version: boolean;
  /** With --version: list the bundled packages too. */
  verbose: boolean;
}

const STRING_FLAGS = new Set(['decryption-keys-path']);
const BOOLEAN_FLAGS = new Map([
  ['help', 'help'],
  ['h', 'help'],
  ['version', 'version'],
  ['verbose', 'verbose'],
]);

/**
 * The stream processor's command line, read as Go's flag package reads
 * imgcrypt's: `-flag value`, `--flag value`, `-flag=value`, `--flag=value`.
 * containerd passes whatever `args` the operator configured.
 */
export function parseDecodeArguments(argv: readonly string[]): DecodeArguments {
  const parsed: DecodeArguments = { keysDirectory: null, help: false, version: false, verbose: false };
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
      parsed[booleanFlag as 'help' | 'version' | 'verbose'] = inlineValue !== 'false';
    } else if (STRING_FLAGS.has(name)) {
      const value = inlineValue ?? argv[++i];
      if (value === undefined) throw new UsageError(`flag -${name} needs a value`, 'give the keys directory, e.g. --decryption-keys-path /etc/containerd/ocicrypt/keys');
      parsed.keysDirectory = value;
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
  --help                      this text
  --version                   the version
  --version --verbose         the version, the Node runtime and the bundled
                              packages with their licences

containerd passes the encrypted layer on stdin and the decryption payload
(the layer descriptor and any keys) on fd 3; the decrypted layer, still in
its tar / tar+gzip / tar+zstd form, goes to stdout. On failure it exits 1
with one line on stderr: "ctd-decoder: ERR_<CODE> layer <digest>: <what> — <fix>".

For operators (each takes --help):
  ctd-decoder keys [DIR]            what the decoder makes of each key file
  ctd-decoder inspect IMAGE         each layer's encryption, and which keys open it
  ctd-decoder decrypt --decryption-keys-path DIR SOURCE DESTINATION
                                    decrypt an OCI layout offline
  ctd-decoder doctor [--config FILE]
                                    check containerd's configuration for decryption
`;
