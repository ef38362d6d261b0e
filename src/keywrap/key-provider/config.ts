import { KeyProviderConfigError } from '../../errors.ts';
import { quoteUntrusted } from '../../encoding/untrusted-text.ts';
import { GoJsonError, field, isJsonObject, objectField, parseJson, stringField, type JsonObject } from '../../encoding/go-json.ts';
import { asStringList } from '../../encoding/string-list.ts';

export const KEYPROVIDER_CONFIG_VARIABLE = 'OCICRYPT_KEYPROVIDER_CONFIG';
export const KEYPROVIDER_TIMEOUT_VARIABLE = 'CTD_DECODER_KEYPROVIDER_TIMEOUT_MS';

/** How long one provider call (command run or gRPC request) may take, unless the variable says otherwise. */
export const DEFAULT_KEYPROVIDER_TIMEOUT_MS = 30_000;
const MAX_KEYPROVIDER_TIMEOUT_MS = 3_600_000;

export const FIX_CONFIG_HINT = `fix the file named by ${KEYPROVIDER_CONFIG_VARIABLE} (format: docs/key-providers.md)`;


/** What the platform found at OCICRYPT_KEYPROVIDER_CONFIG. */
export type KeyProviderConfigFile =
  | { state: 'unset' }
  | { state: 'missing'; path: string }
  | { state: 'unreadable'; path: string; reason: string }
  | { state: 'read'; path: string; text: string };

export interface GrpcTlsSettings {
  rootCaFile: string | null;
  certFile: string | null;
  keyFile: string | null;
  serverName: string | null;
  insecureSkipVerify: boolean;
}

export type KeyProviderEndpoint =
  | { kind: 'cmd'; path: string; args: string[] }
  | { kind: 'grpc'; address: string; tls: GrpcTlsSettings | null }
  /** An entry that parses but cannot be run; only an error if a layer needs it, as in ocicrypt. */
  | { kind: 'invalid'; reason: string };

export interface KeyProviderConfig {
  /** The file consulted, for messages; null when the variable is unset. */
  path: string | null;
  /** False when the variable is unset or names no file: no providers, which is not an error. */
  found: boolean;
  providers: ReadonlyMap<string, KeyProviderEndpoint>;
}

/**
 * ocicrypt's `{"key-providers": {"<name>": {"cmd": {"path", "args"}} | {"grpc": "<address>", "grpc-tls": {...}}}}`,
 * read as Go's encoding/json reads it (field names case-insensitive, unknown
 * fields ignored); a type error anywhere makes the whole file unusable, as in Go.
 */
export function parseKeyProviderConfig(file: KeyProviderConfigFile): KeyProviderConfig {
  switch (file.state) {
    case 'unset':
      return { path: null, found: false, providers: new Map() };
    case 'missing':
      return { path: file.path, found: false, providers: new Map() };
    case 'unreadable':
      throw new KeyProviderConfigError(`cannot read key-provider config ${file.path} (${file.reason})`, FIX_CONFIG_HINT);
    case 'read':
      try {
        return { path: file.path, found: true, providers: providersFromJson(parseJson(file.text, 'the file')) };
      } catch (error) {
        if (error instanceof GoJsonError) throw new KeyProviderConfigError(`key-provider config ${file.path}: ${error.message}`, FIX_CONFIG_HINT);
        throw error;
      }
  }
}

function providersFromJson(root: unknown): Map<string, KeyProviderEndpoint> {
  if (!isJsonObject(root)) throw new GoJsonError('the file must hold a JSON object');
  const providers = new Map<string, KeyProviderEndpoint>();
  for (const [name, attributes] of Object.entries(objectField(root, 'key-providers', '') ?? {})) {
    const path = `.key-providers[${quoteUntrusted(name)}]`;
    if (attributes !== null && !isJsonObject(attributes)) throw new GoJsonError(`${path} must be an object`);
    providers.set(name, endpointFromJson(attributes ?? {}, path));
  }
  return providers;
}

/** ocicrypt runs `cmd` when both are given; a grpc-tls block without grpc is ignored, as there. */
function endpointFromJson(attributes: JsonObject, path: string): KeyProviderEndpoint {
  const command = objectField(attributes, 'cmd', path);
  const address = stringField(attributes, 'grpc', path) ?? '';
  const tls = objectField(attributes, 'grpc-tls', path);
  const tlsSettings = tls === undefined ? null : tlsFromJson(tls, `${path}.grpc-tls`);
  if (command !== undefined) {
    const commandPath = stringField(command, 'path', `${path}.cmd`) ?? '';
    const args = stringArrayField(command, 'args', `${path}.cmd`);
    return commandPath === '' ? { kind: 'invalid', reason: `${path}.cmd has no "path"` } : { kind: 'cmd', path: commandPath, args };
  }
  if (address === '') return { kind: 'invalid', reason: `${path} has neither "cmd" nor "grpc"` };
  if (tlsSettings !== null && (tlsSettings.certFile === null) !== (tlsSettings.keyFile === null)) {
    return { kind: 'invalid', reason: `${path}.grpc-tls needs both "cert-file" and "key-file" for a client certificate` };
  }
  return { kind: 'grpc', address, tls: tlsSettings };
}

function tlsFromJson(tls: JsonObject, path: string): GrpcTlsSettings {
  const insecureSkipVerify = field(tls, 'insecure-skip-verify') ?? false;
  if (typeof insecureSkipVerify !== 'boolean') throw new GoJsonError(`${path}.insecure-skip-verify must be true or false`);
  const text = (name: string) => stringField(tls, name, path) || null;
  return {
    rootCaFile: text('root-ca-file'),
    certFile: text('cert-file'),
    keyFile: text('key-file'),
    serverName: text('server-name'),
    insecureSkipVerify,
  };
}

function stringArrayField(object: JsonObject, name: string, path: string): string[] {
  return asStringList(field(object, name), () => {
    throw new GoJsonError(`${path}.${name} must be an array of strings`);
  });
}

/** CTD_DECODER_KEYPROVIDER_TIMEOUT_MS: whole milliseconds; unset or empty means the default. */
export function parseKeyProviderTimeout(setting: string | undefined): number {
  if (setting === undefined || setting === '') return DEFAULT_KEYPROVIDER_TIMEOUT_MS;
  const milliseconds = /^[0-9]{1,10}$/.test(setting) ? Number(setting) : NaN;
  if (!(milliseconds >= 1 && milliseconds <= MAX_KEYPROVIDER_TIMEOUT_MS)) {
    throw new KeyProviderConfigError(
      `${KEYPROVIDER_TIMEOUT_VARIABLE} must be whole milliseconds from 1 to ${MAX_KEYPROVIDER_TIMEOUT_MS}, got ${quoteUntrusted(setting, 32)}`,
      `fix or remove ${KEYPROVIDER_TIMEOUT_VARIABLE} in the stream processor's env (default ${DEFAULT_KEYPROVIDER_TIMEOUT_MS})`,
    );
  }
  return milliseconds;
}
