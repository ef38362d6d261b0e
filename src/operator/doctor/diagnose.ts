import { parseDecodeArguments } from '../../decode/decode-arguments.ts';
import { ConfigSyntaxError, parseContainerdConfig, type ContainerdConfig } from '../containerd/config.ts';
import {
  CONFIG_DIRECTORY,
  PAYLOAD_PROCESSOR_IDS,
  TAR_GZIP_PROCESSOR_ID,
  type StreamProcessor,
} from '../containerd/defaults.ts';
import { atLeast, type ContainerdVersion } from '../containerd/version.ts';
import { DecoderError } from '../../errors.ts';
import { plural } from '../../encoding/plural.ts';
import { formatMode, type KeyInventoryEntry } from '../key-inventory.ts';
import { KEYPROVIDER_CONFIG_VARIABLE, parseKeyProviderConfig } from '../../keywrap/key-provider/config.ts';
import { OCICRYPT_CONFIG_VARIABLE, Pkcs11ConfigError, parseModulePolicy } from '../../keywrap/pkcs11/config.ts';
import { ENCRYPTED_LAYER_MEDIA_TYPES, decryptedMediaType, isEncryptedMediaType } from '../oci/media-types.ts';

export type FindingLevel = 'ok' | 'info' | 'warning' | 'problem';

/** One line of the report; a problem always says how to fix it. */
export interface Finding {
  level: FindingLevel;
  area: string;
  message: string;
  fix?: string;
}

export interface FileFacts {
  kind: 'file' | 'directory' | 'other';
  mode: number;
  uid: number;
  executable: boolean;
}

/** What doctor needs to know about the machine; implemented in system-probe.ts, faked in tests. */
export interface DoctorProbe {
  fileFacts(path: string): FileFacts | null;
  /** The command as a PATH lookup would find it, or null. */
  lookPath(command: string): string | null;
  /** A small text file; null when it does not exist. */
  readTextFile(path: string): { text: string } | { error: string } | null;
  /** The first line `<path> --version` prints, or null when it fails. */
  versionOf(path: string): string | null;
  keyInventory(directory: string): Promise<KeyInventoryEntry[]>;
}

export interface DoctorInput {
  configPath: string;
  /** null: the file does not exist (containerd then runs on its built-in defaults). */
  configText: string | null;
  /** Rootless containerd: the host directory that containerd sees as /etc/containerd. */
  rootlessConfigDirectory: string | null;
  /** null when no containerd binary was found. */
  containerd: { path: string; version: ContainerdVersion | null; output: string } | null;
}

/** Where the shipped examples are named (installed under share/doc/ctd-decoder/examples). */
const example = (name: string): string => `config-examples/${name}`;

/**
 * Everything between containerd pulling an encrypted image and this decoder
 * opening its layers: config syntax and version, the containerd version and
 * what it implies, CRI settings, each stream processor (ID, media types,
 * binary, args, env), the keys directory and the key-provider config.
 */
export async function diagnose(input: DoctorInput, probe: DoctorProbe): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (level: FindingLevel, area: string, message: string, fix?: string) => findings.push(fix === undefined ? { level, area, message } : { level, area, message, fix });
  const hostPath = (path: string): string =>
    input.rootlessConfigDirectory !== null && (path === CONFIG_DIRECTORY || path.startsWith(`${CONFIG_DIRECTORY}/`))
      ? input.rootlessConfigDirectory + path.slice(CONFIG_DIRECTORY.length)
      : path;
  const shown = (path: string): string => (hostPath(path) === path ? path : `${path} (${hostPath(path)} on the host)`);

  let config: ContainerdConfig;
  try {
    config = parseContainerdConfig(input.configText ?? '');
  } catch (error) {
    if (!(error instanceof ConfigSyntaxError)) throw error;
    add('problem', 'config', `${input.configPath}: ${error.message}`, `fix the TOML syntax; \`containerd --config ${input.configPath} config dump\` shows what containerd reads`);
    checkContainerd(input, null, add);
    return findings;
  }
  if (input.configText === null) add('info', 'config', `${input.configPath} does not exist: containerd runs on its built-in defaults`);
  else add('ok', 'config', `${input.configPath} (config version ${config.version})`);
  if (input.rootlessConfigDirectory !== null) add('info', 'config', `rootless: containerd sees ${input.rootlessConfigDirectory} as ${CONFIG_DIRECTORY}`);
  for (const problem of config.problems) add('problem', 'config', problem, 'containerd does not start with this setting: give it the right type');
  if (config.imports.length > 0) add('warning', 'config', `imports ${config.imports.join(', ')}: not read by doctor, check them with \`containerd config dump\``);

  const version = checkContainerd(input, config, add);
  const processors = config.processors.filter(
    (processor) => (!processor.builtIn || version === null || atLeast(version, 1, 5)) && (PAYLOAD_PROCESSOR_IDS.has(processor.id) || processor.accepts.some(isEncryptedMediaType)),
  );
  checkCri(config, version, processors.some(requiresPayload), add);
  checkCoverage(processors, add);
  const keysDirectories = new Set<string>();
  const providerConfigs = new Set<string>();
  const pkcs11Configs = new Set<string>();
  for (const processor of processors) {
    // One area for all processors keeps the report aligned; each message starts with the processor's ID.
    const addFor: Add = (level, area, message, fix) => add(level, area, `${processor.id}: ${message}`, fix);
    checkProcessorRouting(processor, addFor);
    checkProcessorBinary(processor, probe, addFor);
    const keysDirectory = checkProcessorArgs(processor, addFor);
    if (keysDirectory !== null) keysDirectories.add(keysDirectory);
    for (const [name, value] of processorEnv(processor, addFor)) {
      if (name === KEYPROVIDER_CONFIG_VARIABLE && value !== '') providerConfigs.add(value);
      if (name === OCICRYPT_CONFIG_VARIABLE && value !== 'internal' && value !== '') pkcs11Configs.add(value);
    }
  }
  for (const directory of keysDirectories) await checkKeysDirectory(shown(directory), hostPath(directory), input.rootlessConfigDirectory !== null, probe, add);
  for (const path of providerConfigs) checkKeyProviderConfig(path, shown(path), hostPath(path), probe, add);
  for (const path of pkcs11Configs) checkPkcs11Config(shown(path), hostPath(path), probe, add);
  return findings;
}

type Add = (level: FindingLevel, area: string, message: string, fix?: string) => void;

function checkContainerd(input: DoctorInput, config: ContainerdConfig | null, add: Add): ContainerdVersion | null {
  if (input.containerd === null) {
    add('warning', 'containerd', 'containerd not found on PATH: version-dependent checks follow the config version', 'run doctor where containerd runs, with its PATH');
    return null;
  }
  const { version, path, output } = input.containerd;
  if (version === null) {
    add('warning', 'containerd', `cannot read the version of ${path} ("${output.trim().slice(0, 80)}")`);
    return null;
  }
  add('ok', 'containerd', `containerd ${version.text} (${path})`);
  if (!atLeast(version, 1, 5)) {
    add('warning', 'containerd', `containerd ${version.text} registers no stream processors and no key model by default: both must be in the config`, `see ${example('containerd-1.6-config.toml')}`);
  }
  if (config !== null && version.major < 2 && config.version >= 3) {
    add('problem', 'config', `containerd ${version.text} reads config version 2: the version ${config.version} CRI settings are ignored`, `use the version 2 layout (${example('containerd-1.6-config.toml')})`);
  }
  if (config !== null && version.major >= 2 && config.version <= 2) {
    add('info', 'config', `containerd ${version.text} migrates this version ${config.version} config at every start; \`containerd config migrate\` prints the version 3 form`);
  }
  return version;
}

/** Started with --require-payload: the decoder then refuses to look layers up in the content store. */
function requiresPayload(processor: StreamProcessor): boolean {
  try {
    return parseDecodeArguments(processor.args).requirePayload;
  } catch {
    return false; // reported by checkProcessorArgs
  }
}

/** What a call without a payload gets, said once per finding. */
const LOOKUP_MODE = "payload-less mode: the decoder finds each layer's descriptor in containerd's content store";

function checkCri(config: ContainerdConfig, version: ContainerdVersion | null, strict: boolean, add: Add): void {
  const cri = config.cri;
  if (cri === null) {
    add('info', 'cri', 'the CRI plugin is disabled: Kubernetes does not pull here; nerdctl and ctr-enc pulls still use the stream processors');
    return;
  }
  const keyModelAt = `${cri.table.slice(0, -1)}.image_decryption]`;
  if (cri.keyModel === null) {
    if (version !== null && !atLeast(version, 1, 5)) add('problem', 'cri', 'image_decryption.key_model is not set, and this containerd has no default', `set key_model = "node" under ${keyModelAt}`);
    else add('ok', 'cri', 'image_decryption.key_model not set: "node", the default since containerd 1.5');
  } else if (cri.keyModel === 'node') {
    add('ok', 'cri', 'image_decryption.key_model = "node"');
  } else if (cri.keyModel === '') {
    if (strict) add('problem', 'cri', 'image_decryption.key_model = "": CRI pulls send the decoder no payload, and --require-payload refuses that (ERR_NO_PAYLOAD)', `set key_model = "node" under ${keyModelAt}`);
    else add('info', 'cri', `image_decryption.key_model = "": CRI pulls send the decoder no payload; ${LOOKUP_MODE}`);
  } else {
    add('warning', 'cri', `image_decryption.key_model = "${cri.keyModel}": only "node" hands the decoder a payload with the node's keys`, `set key_model = "node" under ${keyModelAt}`);
  }

  const transferPulls = version === null ? config.version >= 3 : atLeast(version, 2, 1);
  if (!transferPulls) return;
  const why = 'containerd >= 2.1 pulls CRI images through the transfer service, which sends the decoder no payload, and --require-payload refuses that (ERR_NO_PAYLOAD)';
  const setIt = "set use_local_image_pull = true under [plugins.'io.containerd.cri.v1.images'], or drop --require-payload from the processors' args";
  if (cri.useLocalImagePull === true) {
    add('ok', 'cri', 'use_local_image_pull = true: CRI pulls hand the decoder its payload');
  } else if (!strict && cri.localPullTriggers.length > 0) {
    add('ok', 'cri', `CRI pulls fall back to the local pull (payload) because of ${cri.localPullTriggers.join(', ')}; without those, ${LOOKUP_MODE}`);
  } else if (!strict) {
    add('ok', 'cri', `CRI pulls go through the transfer service, which sends no payload: ${LOOKUP_MODE}`);
  } else if (cri.localPullTriggers.length > 0) {
    add('warning', 'cri', `use_local_image_pull is not set; containerd falls back to the local pull only because of ${cri.localPullTriggers.join(', ')}`, setIt);
  } else if (config.version < 3) {
    add('problem', 'cri', `${why}; a version ${config.version} config cannot set use_local_image_pull`, `migrate the file (\`containerd config migrate\`) and ${setIt} (${example('containerd-2-config.toml')})`);
  } else {
    add('problem', 'cri', why, setIt);
  }
}

/** Every encrypted media type must reach a processor. */
function checkCoverage(processors: readonly StreamProcessor[], add: Add): void {
  for (const mediaType of ENCRYPTED_LAYER_MEDIA_TYPES) {
    if (mediaType.includes('nondistributable')) continue;
    const accepting = processors.filter((processor) => processor.accepts.includes(mediaType));
    if (accepting.length > 1) {
      add('warning', 'processors', `${mediaType} is accepted by ${accepting.map((processor) => processor.id).join(' and ')}: containerd picks one at random`, 'list each media type under one processor');
    }
    if (accepting.length === 0) {
      const zstd = mediaType.includes('zstd');
      add(
        zstd ? 'warning' : 'problem',
        'processors',
        `no stream processor accepts ${mediaType}: such layers fail to unpack`,
        zstd
          ? `add the tar.zstd processor of ${example('processors-tar-gzip-zstd.toml')}`
          : `add the processors of ${example('processors-tar-gzip-zstd.toml')}`,
      );
    }
  }
}

function checkProcessorRouting(processor: StreamProcessor, add: Add): void {
  const area = 'processor';
  if (processor.builtIn) add('info', area, 'built into containerd (not in the config file): runs "ctd-decoder" from containerd\'s PATH');
  const encrypted = processor.accepts.filter(isEncryptedMediaType);
  const plain = processor.accepts.filter((mediaType) => !isEncryptedMediaType(mediaType));
  if (!PAYLOAD_PROCESSOR_IDS.has(processor.id) && encrypted.length > 0) {
    const zstdOnly = encrypted.every((mediaType) => mediaType.includes('zstd'));
    const noPayload = `${zstdOnly ? 'a zstd processor' : 'this ID'} gets no decryption payload: CRI, nerdctl and ctr-enc send it only to ${[...PAYLOAD_PROCESSOR_IDS].join(' and ')}`;
    if (requiresPayload(processor)) {
      add('problem', area, `${noPayload}, and --require-payload refuses that (ERR_NO_PAYLOAD)`, `drop --require-payload, or move ${encrypted.join(', ')} into the accepts of [stream_processors."${TAR_GZIP_PROCESSOR_ID}"] and remove this entry`);
    } else {
      add('info', area, `${noPayload}; ${LOOKUP_MODE}`);
    }
  }
  if (plain.length > 0) {
    add('problem', area, `accepts unencrypted ${plain.join(', ')}: every such layer would go through the decoder and fail (ERR_NOT_ENCRYPTED)`, 'list only +encrypted media types in accepts');
  }
  if (processor.returns === '' || isEncryptedMediaType(processor.returns)) {
    add('problem', area, `returns "${processor.returns}" is not a decrypted layer media type`, `set returns to the accepted type without "+encrypted", e.g. "${decryptedMediaType(encrypted[0] ?? 'application/vnd.oci.image.layer.v1.tar+gzip')}"`);
  } else if (!encrypted.some((mediaType) => decryptedMediaType(mediaType) === processor.returns)) {
    add('warning', area, `returns ${processor.returns}, which is none of the accepted types without "+encrypted"`, 'make returns match what the layers decrypt to');
  }
}

/** The keys directory the decoder will read, or null when its args give none (reported). */
function checkProcessorArgs(processor: StreamProcessor, add: Add): string | null {
  const area = 'processor';
  try {
    const args = parseDecodeArguments(processor.args);
    if (args.keysDirectory === null) {
      add('problem', area, 'args has no --decryption-keys-path: CRI and nerdctl pass no keys, so no layer can be decrypted', `args = ["--decryption-keys-path", "/etc/containerd/ocicrypt/keys"]`);
    }
    return args.keysDirectory;
  } catch (error) {
    if (!(error instanceof DecoderError)) throw error;
    add('problem', area, `args ${JSON.stringify(processor.args)}: ${error.message}`, 'give --decryption-keys-path DIR and only the flags ctd-decoder --help lists');
    return null;
  }
}

/** The processor's env as name/value pairs; malformed entries are reported and left out. */
function processorEnv(processor: StreamProcessor, add: Add): [name: string, value: string][] {
  return processor.env.flatMap((entry): [string, string][] => {
    const equals = entry.indexOf('=');
    if (equals > 0) return [[entry.slice(0, equals), entry.slice(equals + 1)]];
    add('warning', 'processor', `env entry ${JSON.stringify(entry)} is not NAME=VALUE`, 'write env entries as "NAME=VALUE"');
    return [];
  });
}

function checkProcessorBinary(processor: StreamProcessor, probe: DoctorProbe, add: Add): void {
  const area = 'processor';
  if (processor.path === '') {
    add('problem', area, 'path is empty', 'set path = "/usr/local/bin/ctd-decoder" (or where it is installed)');
    return;
  }
  const resolved = processor.path.includes('/') ? processor.path : probe.lookPath(processor.path);
  if (resolved === null) {
    add('problem', area, `"${processor.path}" is not on PATH`, 'install ctd-decoder into a directory on containerd\'s PATH, or set path to its absolute location');
    return;
  }
  if (!resolved.startsWith('/')) add('warning', area, `path "${processor.path}" is relative to containerd's working directory`, 'give an absolute path');
  const facts = probe.fileFacts(resolved);
  if (facts === null || facts.kind !== 'file') {
    add('problem', area, `${resolved} ${facts === null ? 'does not exist' : 'is not a file'}`, 'install ctd-decoder there (make install, or the .deb), or set path to where it is');
    return;
  }
  if (!facts.executable) {
    add('problem', area, `${resolved} is not executable (mode ${formatMode(facts.mode)})`, `chmod 755 ${resolved}`);
    return;
  }
  if ((facts.mode & 0o022) !== 0) {
    add('warning', area, `${resolved} is writable by group or others (mode ${formatMode(facts.mode)}): whoever replaces it sees every key`, `chmod 755 ${resolved}`);
  }
  const version = probe.versionOf(resolved);
  if (version?.startsWith('ctd-decoder ')) add('ok', area, `${resolved}: ${version}`);
  else add('info', area, `${resolved} is not this ctd-decoder (--version: ${version === null ? 'no answer' : `"${version.slice(0, 60)}"`}): doctor's key checks describe this one`);
}

async function checkKeysDirectory(shown: string, hostPath: string, rootless: boolean, probe: DoctorProbe, add: Add): Promise<void> {
  const area = 'keys';
  const facts = probe.fileFacts(hostPath);
  if (facts === null) {
    add('problem', area, `${shown} does not exist: nothing can decrypt`, `install -d -m 0700 ${hostPath} and put the private keys in it`);
    return;
  }
  if (facts.kind !== 'directory') {
    add('problem', area, `${shown} is not a directory (ERR_KEYS_DIR)`, `make ${hostPath} a directory of key files`);
    return;
  }
  if ((facts.mode & 0o077) !== 0) add('warning', area, `${shown} is open to group or others (mode ${formatMode(facts.mode)})`, `chmod 700 ${hostPath}`);
  if (!rootless && facts.uid !== 0) add('warning', area, `${shown} is owned by uid ${facts.uid}, not root (containerd's user)`, `chown -R root: ${hostPath}`);
  let entries: KeyInventoryEntry[];
  try {
    entries = await probe.keyInventory(hostPath);
  } catch (error) {
    if (!(error instanceof DecoderError)) throw error;
    add('problem', area, error.message, error.hint);
    return;
  }
  const usable = entries.filter((entry) => entry.role === 'key');
  const bySchemes = new Map<string, number>();
  for (const entry of usable) for (const scheme of entry.schemes) bySchemes.set(scheme, (bySchemes.get(scheme) ?? 0) + 1);
  if (usable.length === 0) {
    add('problem', area, `${shown} holds no usable private key (ERR_NO_KEY_SUPPLIED)`, `put the private key of the image's recipient there; \`ctd-decoder keys ${hostPath}\` lists what is found`);
  } else {
    add('ok', area, `${shown}: ${plural(usable.length, 'usable key')} (${[...bySchemes].map(([scheme, count]) => `${scheme} ${count}`).join(', ')})`);
  }
  for (const entry of entries) for (const warning of entry.warnings) add('warning', area, `${entry.path}: ${warning}`);
}

function checkKeyProviderConfig(path: string, shown: string, hostPath: string, probe: DoctorProbe, add: Add): void {
  const area = 'key providers';
  const file = probe.readTextFile(hostPath);
  if (file === null) {
    add('info', area, `${shown} does not exist: no key providers (not an error)`);
    return;
  }
  try {
    const config = parseKeyProviderConfig('error' in file ? { state: 'unreadable', path, reason: file.error } : { state: 'read', path, text: file.text });
    if (config.providers.size === 0) add('info', area, `${shown} names no key providers`);
    for (const [name, endpoint] of config.providers) {
      if (endpoint.kind === 'invalid') {
        add('problem', area, `${name}: ${endpoint.reason}`, `give ${name} a "cmd" with a "path", or a "grpc" address`);
      } else if (endpoint.kind === 'grpc') {
        add('ok', area, `${name}: gRPC ${endpoint.address}${endpoint.tls === null ? '' : ' (TLS)'}`);
      } else {
        const facts = probe.fileFacts(endpoint.path);
        if (facts?.kind === 'file' && facts.executable) add('ok', area, `${name}: runs ${endpoint.path}`);
        else add('problem', area, `${name}: ${endpoint.path} ${facts === null ? 'does not exist' : 'is not an executable file'}`, `install the provider at ${endpoint.path} or fix its "path"`);
      }
    }
  } catch (error) {
    if (!(error instanceof DecoderError)) throw error;
    add('problem', area, error.message, error.hint);
  }
}

/** The ocicrypt.conf that OCICRYPT_CONFIG names, read by the PKCS#11 scheme's own parser. */
function checkPkcs11Config(shown: string, hostPath: string, probe: DoctorProbe, add: Add): void {
  const area = 'pkcs11';
  const file = probe.readTextFile(hostPath);
  const fix = `write it (${example('ocicrypt.conf')}) or set ${OCICRYPT_CONFIG_VARIABLE}=internal in the processor's env`;
  if (file === null) {
    add('info', area, `${OCICRYPT_CONFIG_VARIABLE}=${shown} does not exist: PKCS#11 keys fall back to ~/.config/ocicrypt.conf, then /etc/ocicrypt.conf`);
    return;
  }
  if ('error' in file) {
    add('problem', area, `${OCICRYPT_CONFIG_VARIABLE}=${shown} cannot be read (${file.error})`, fix);
    return;
  }
  try {
    const policy = parseModulePolicy(file.text, shown);
    if (policy.allowedModulePaths.length === 0) add('warning', area, `${shown} allows no PKCS#11 module (allowed-module-paths is empty)`, fix);
    else add('ok', area, `${shown}: ${policy.moduleDirectories.length} module directories, ${policy.allowedModulePaths.length} allowed module paths`);
  } catch (error) {
    if (!(error instanceof Pkcs11ConfigError)) throw error;
    add('problem', area, error.message, fix);
  }
}
