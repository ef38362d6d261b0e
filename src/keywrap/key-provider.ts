import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import { KeyProviderConfigError } from '../errors.ts';
import { interpretCommandOutcome, type CommandOutcome } from './key-provider/command.ts';
import {
  FIX_CONFIG_HINT,
  KEYPROVIDER_CONFIG_VARIABLE,
  parseKeyProviderTimeout,
  type KeyProviderConfig,
  type KeyProviderEndpoint,
} from './key-provider/config.ts';
import {
  MAX_GRPC_REPLY_BYTES,
  encodeUnaryRequest,
  interpretUnaryOutcome,
  parseGrpcAddress,
  unaryRequestHeaders,
  type Http2Outcome,
  type Http2UnaryRequest,
} from './key-provider/grpc.ts';
import { KeyProviderReplyError, keyUnwrapRequest, optsDataFromReply, type ProviderCallResult } from './key-provider/protocol.ts';
import { OperationBudget } from './operation-budget.ts';
import { CAN_TRY, UnwrapFailure, cannotTry, type KeyWrapScheme } from './scheme.ts';

type ProviderCall = (request: Buffer) => Promise<ProviderCallResult>;
type RunnableEndpoint = Exclude<KeyProviderEndpoint, { kind: 'invalid' }>;

/**
 * What the key-provider scheme needs of the system; src/decode/scheme-registry.ts
 * plugs in platform/key-provider-host.ts, tests their own.
 */
export interface KeyProviderHost {
  /** The parsed provider config (read once per run, when a layer first needs a provider). */
  config(): KeyProviderConfig;
  /** The timeout setting as the environment gives it, unparsed. */
  timeoutSetting(): string | undefined;
  runCommand(command: { path: string; args: readonly string[] }, request: Buffer, timeoutMs: number): Promise<CommandOutcome>;
  http2UnaryExchange(request: Http2UnaryRequest): Promise<Http2Outcome>;
}

/**
 * `org.opencontainers.image.enc.keys.provider.<name>`: each item goes to the
 * provider configured under <name>, which returns the private layer options.
 *
 * The request carries only the payload parameter named after the provider
 * (`--decryption-key provider:<name>:<value>` in ocicrypt's tools). ocicrypt
 * sends every decryption parameter, which would hand the node's private keys
 * and passwords to an external program; a provider has no use for them.
 */
export function keyProviderScheme(providerName: string, host: KeyProviderHost): KeyWrapScheme {
  return {
    name: `provider.${providerName}`,

    checkKeys() {
      const config = host.config();
      const notConfigured = `key provider ${quoteUntrusted(providerName)} is not configured`;
      if (config.path === null) return cannotTry(`${notConfigured}: ${KEYPROVIDER_CONFIG_VARIABLE} is not set`);
      if (!config.found) return cannotTry(`${notConfigured}: ${config.path} does not exist`);
      if (!config.providers.has(providerName)) return cannotTry(`${notConfigured} in ${config.path} (it configures ${listNames([...config.providers.keys()])})`);
      return CAN_TRY;
    },

    async unwrap(items, keys, budget = new OperationBudget()) {
      const config = host.config();
      const endpoint = config.providers.get(providerName)!;
      if (endpoint.kind === 'invalid') {
        throw new KeyProviderConfigError(`key-provider config ${config.path}: ${endpoint.reason}`, FIX_CONFIG_HINT);
      }
      const call = providerCall(host, endpoint, parseKeyProviderTimeout(host.timeoutSetting()));
      const ownParameter = keys.keyProviderParameters.get(providerName);
      const parameters = new Map(ownParameter === undefined ? [] : [[providerName, ownParameter]]);
      const failures: string[] = [];
      for (const item of items) {
        budget.spend('provider');
        const result = await call(keyUnwrapRequest(parameters, item));
        if ('reply' in result) {
          try {
            return optsDataFromReply(result.reply);
          } catch (error) {
            if (!(error instanceof KeyProviderReplyError)) throw error;
            failures.push(error.message);
            continue;
          }
        }
        failures.push(result.failure);
        if (result.unreachable) break;
      }
      throw new UnwrapFailure(`${describeEndpoint(endpoint)}: ${[...new Set(failures)].join('; ')}`);
    },
  };
}

/** One request to the provider, through the host's transport for its kind. */
function providerCall(host: KeyProviderHost, endpoint: RunnableEndpoint, timeoutMs: number): ProviderCall {
  switch (endpoint.kind) {
    case 'cmd': {
      return async (request) => interpretCommandOutcome(await host.runCommand(endpoint, request, timeoutMs), timeoutMs);
    }
    case 'grpc': {
      const target = parseGrpcAddress(endpoint.address);
      return async (request) =>
        interpretUnaryOutcome(
          await host.http2UnaryExchange({
            endpoint: target,
            tls: endpoint.tls,
            headers: unaryRequestHeaders(timeoutMs),
            body: encodeUnaryRequest(request),
            timeoutMs,
            maxReplyBytes: MAX_GRPC_REPLY_BYTES,
          }),
          timeoutMs,
        );
    }
  }
}

function describeEndpoint(endpoint: RunnableEndpoint): string {
  return endpoint.kind === 'cmd' ? `command ${endpoint.path}` : `gRPC ${endpoint.address}${endpoint.tls === null ? '' : ' (TLS)'}`;
}

function listNames(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, 5).map((name) => quoteUntrusted(name));
  return shown.join(', ') + (names.length > shown.length ? `, +${names.length - shown.length} more` : '');
}
