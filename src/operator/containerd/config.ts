import { parse, TomlError } from 'smol-toml';
import { builtInStreamProcessors, type StreamProcessor } from './defaults.ts';
import { asStringList } from '../../encoding/string-list.ts';

/**
 * The parts of containerd's config.toml that decide whether encrypted
 * layers get decrypted, read the way containerd reads them: built-in stream
 * processors replaced ID by ID, CRI settings looked up in the table that the
 * config version names.
 */
export interface ContainerdConfig {
  /** 1 when the file has no `version` (containerd's reading). */
  version: number;
  processors: StreamProcessor[];
  /** Settings containerd would refuse or misread (wrong types), one line each. */
  problems: string[];
  /** Other config files merged in by `imports`, which doctor does not follow. */
  imports: string[];
  /** null when the CRI plugin is disabled. */
  cri: CriImageSettings | null;
}

export interface CriImageSettings {
  /** The TOML table holding the CRI image settings, as the operator would write its header. */
  table: string;
  /** null when not set: containerd >= 1.5 then uses "node". */
  keyModel: string | null;
  /** null when not set (false); only configs of version 3 and up can set it. */
  useLocalImagePull: boolean | null;
  /** Settings that make containerd >= 2.1 fall back to the local pull on its own (it logs a warning). */
  localPullTriggers: string[];
}

export class ConfigSyntaxError extends Error {}

type Table = Record<string, unknown>;

const isTable = (value: unknown): value is Table => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The CRI plugin's image table, per config version. */
const CRI_IMAGE_PLUGINS: Record<number, { plugin: string; table: string }> = {
  1: { plugin: 'cri', table: '[plugins.cri]' },
  2: { plugin: 'io.containerd.grpc.v1.cri', table: '[plugins."io.containerd.grpc.v1.cri"]' },
  3: { plugin: 'io.containerd.cri.v1.images', table: "[plugins.'io.containerd.cri.v1.images']" },
};

export function parseContainerdConfig(text: string): ContainerdConfig {
  let document: Table;
  try {
    document = parse(text) as Table;
  } catch (error) {
    if (error instanceof TomlError) {
      throw new ConfigSyntaxError(`${error.message.split('\n')[0]} (line ${error.line}, column ${error.column})`);
    }
    throw error;
  }
  const problems: string[] = [];
  const version = typeof document['version'] === 'number' ? document['version'] : 1;
  const criPlugin = CRI_IMAGE_PLUGINS[Math.min(version, 3)] ?? CRI_IMAGE_PLUGINS[1]!;
  const disabled = stringList(document['disabled_plugins'], 'disabled_plugins', problems);
  const plugins = isTable(document['plugins']) ? document['plugins'] : {};
  const criDisabled = disabled.includes(criPlugin.plugin) || disabled.includes('io.containerd.grpc.v1.cri');
  return {
    version,
    processors: streamProcessors(document['stream_processors'], problems),
    problems,
    imports: stringList(document['imports'], 'imports', problems),
    cri: criDisabled ? null : criImageSettings(plugins[criPlugin.plugin], criPlugin.table, version, problems),
  };
}

function streamProcessors(value: unknown, problems: string[]): StreamProcessor[] {
  const processors = new Map(builtInStreamProcessors().map((processor) => [processor.id, processor]));
  if (value !== undefined && !isTable(value)) problems.push('stream_processors must be a table');
  for (const [id, entry] of Object.entries(isTable(value) ? value : {})) {
    const where = `[stream_processors."${id}"]`;
    if (!isTable(entry)) {
      problems.push(`${where} must be a table`);
      continue;
    }
    processors.set(id, {
      id,
      accepts: stringList(entry['accepts'], `${where} accepts`, problems),
      returns: stringValue(entry['returns'], `${where} returns`, problems),
      path: stringValue(entry['path'], `${where} path`, problems),
      args: stringList(entry['args'], `${where} args`, problems),
      env: stringList(entry['env'], `${where} env`, problems),
      builtIn: false,
    });
  }
  return [...processors.values()];
}

function criImageSettings(value: unknown, table: string, version: number, problems: string[]): CriImageSettings {
  const images = isTable(value) ? value : {};
  const decryption = isTable(images['image_decryption']) ? images['image_decryption'] : {};
  const keyModel = decryption['key_model'];
  const useLocalImagePull = images['use_local_image_pull'];
  if (keyModel !== undefined && typeof keyModel !== 'string') problems.push(`${table} image_decryption.key_model must be a string`);
  if (useLocalImagePull !== undefined && typeof useLocalImagePull !== 'boolean') problems.push(`${table} use_local_image_pull must be true or false`);
  return {
    table,
    keyModel: typeof keyModel === 'string' ? keyModel : null,
    useLocalImagePull: typeof useLocalImagePull === 'boolean' && version >= 3 ? useLocalImagePull : null,
    localPullTriggers: localPullTriggers(images, version),
  };
}

/** containerd 2.1's CheckLocalImagePullConfigs, for the settings a file can hold. */
function localPullTriggers(images: Table, version: number): string[] {
  // Version 2 files keep the snapshot settings one level down, in the CRI plugin's "containerd" table.
  const snapshots = version >= 3 ? images : isTable(images['containerd']) ? images['containerd'] : {};
  const registry = isTable(images['registry']) ? images['registry'] : {};
  const triggers: string[] = [];
  if (snapshots['disable_snapshot_annotations'] === false) triggers.push('disable_snapshot_annotations = false');
  if (snapshots['discard_unpacked_layers'] === true) triggers.push('discard_unpacked_layers = true');
  for (const name of ['mirrors', 'configs', 'auths']) {
    const entries = registry[name];
    if (isTable(entries) && Object.keys(entries).length > 0) triggers.push(`registry.${name}`);
  }
  const downloads = images['max_concurrent_downloads'];
  if (downloads !== undefined && downloads !== 3) triggers.push(`max_concurrent_downloads = ${String(downloads)}`);
  if (images['image_pull_with_sync_fs'] === true) triggers.push('image_pull_with_sync_fs = true');
  return triggers;
}

function stringValue(value: unknown, where: string, problems: string[]): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') {
    problems.push(`${where} must be a string`);
    return '';
  }
  return value;
}

function stringList(value: unknown, where: string, problems: string[]): string[] {
  return asStringList(value, () => {
    problems.push(`${where} must be a list of strings`);
    return [];
  });
}
