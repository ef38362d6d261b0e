import { KEYPROVIDER_CONFIG_VARIABLE } from '../../keywrap/key-provider/config.ts';

/** What containerd and imgcrypt do when nothing says otherwise. */

export const DEFAULT_CONFIG_PATH = '/etc/containerd/config.toml';
/** Rootless containerd (containerd-rootless.sh) sees $XDG_CONFIG_HOME/containerd (~/.config/containerd) bind-mounted here. */
export const CONFIG_DIRECTORY = '/etc/containerd';
export const DEFAULT_KEYS_DIRECTORY = '/etc/containerd/ocicrypt/keys';
const DEFAULT_KEYPROVIDER_CONFIG = '/etc/containerd/ocicrypt/ocicrypt_keyprovider.conf';


/**
 * The only processor IDs imgcrypt's clients (CRI, nerdctl, ctr-enc) hand a
 * decryption payload to: an encrypted media type accepted under any other ID
 * reaches a decoder that has no payload.
 */
const TAR_PROCESSOR_ID = 'io.containerd.ocicrypt.decoder.v1.tar';
export const TAR_GZIP_PROCESSOR_ID = 'io.containerd.ocicrypt.decoder.v1.tar.gzip';
export const PAYLOAD_PROCESSOR_IDS: ReadonlySet<string> = new Set([TAR_PROCESSOR_ID, TAR_GZIP_PROCESSOR_ID]);

export interface StreamProcessor {
  id: string;
  accepts: string[];
  returns: string;
  path: string;
  args: string[];
  env: string[];
  /** Registered by containerd itself (>= 1.5), not written in the config file. */
  builtIn: boolean;
}

/** containerd >= 1.5 registers these two unless the config file replaces them, ID by ID. */
export function builtInStreamProcessors(): StreamProcessor[] {
  const common = {
    path: 'ctd-decoder',
    args: ['--decryption-keys-path', DEFAULT_KEYS_DIRECTORY],
    env: [`${KEYPROVIDER_CONFIG_VARIABLE}=${DEFAULT_KEYPROVIDER_CONFIG}`],
    builtIn: true,
  };
  return [
    { id: TAR_GZIP_PROCESSOR_ID, accepts: ['application/vnd.oci.image.layer.v1.tar+gzip+encrypted'], returns: 'application/vnd.oci.image.layer.v1.tar+gzip', ...common },
    { id: TAR_PROCESSOR_ID, accepts: ['application/vnd.oci.image.layer.v1.tar+encrypted'], returns: 'application/vnd.oci.image.layer.v1.tar', ...common },
  ];
}
