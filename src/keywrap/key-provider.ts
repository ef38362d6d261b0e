import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import { KeyProviderConfigError } from '../errors.ts';
import { readKeyProviderConfigFile, readKeyProviderTimeoutSetting } from '../platform/key-provider-settings.ts';
import { interpretCommandOutcome } from './key-provider/command.ts';
import {
  FIX_CONFIG_HINT,
  KEYPROVIDER_CONFIG_VARIABLE,
  parseKeyProviderConfig,
  parseKeyProviderTimeout,
  type KeyProviderConfig,
  type KeyProviderEndpoint,
} from './key-provider/config.ts';
import { MAX_GRPC_REPLY_BYTES, encodeUnaryRequest, interpretUnaryOutcome, parseGrpcAddress, unaryRequestHeaders } from './key-provider/grpc.ts';
import { KeyProviderReplyError, keyUnwrapRequest, optsDataFromReply, type ProviderCallResult } from './key-provider/protocol.ts';
import { OperationBudget } from './operation-budget.ts';
import { UnwrapFailure, type KeyWrapScheme } from './scheme.ts';

type ProviderCall = (request: Buffer) => Promise<ProviderCallResult>;
type RunnableEndpoint = Exclude<KeyProviderEndpoint, { kind: 'invalid' }>;

let loadedConfig: KeyProviderConfig | undefined;

/** Read once per run, and only when a layer is wrapped for a key provider. */
function keyProviderConfig(): KeyProviderConfig {
  return (loadedConfig ??= parseKeyProviderConfig(readKeyProviderConfigFile()));
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
export function keyProviderScheme(providerName: string): KeyWrapScheme {
  return {
    name: `provider.${providerName}`,

    missingKeys() {
      const config = keyProviderConfig();
      const notConfigured = `key provider ${quoteUntrusted(providerName)} is not configured`;
      if (config.path === null) return `${notConfigured}: ${KEYPROVIDER_CONFIG_VARIABLE} is not set`;
      if (!config.found) return `${notConfigured}: ${config.path} does not exist`;
      if (!config.providers.has(providerName)) return `${notConfigured} in ${config.path} (it configures ${listNames([...config.providers.keys()])})`;
      return null;
    },

    async unwrap(items, keys, budget = new OperationBudget()) {
      const config = keyProviderConfig();
      const endpoint = config.providers.get(providerName)!;
      if (endpoint.kind === 'invalid') {
        throw new KeyProviderConfigError(`key-provider config ${config.path}: ${endpoint.reason}`, FIX_CONFIG_HINT);
      }
      const call = await providerCall(endpoint, parseKeyProviderTimeout(readKeyProviderTimeoutSetting()));
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

/** The transport is loaded only for the kind of provider in use: node:http2 only for gRPC. */
async function providerCall(endpoint: RunnableEndpoint, timeoutMs: number): Promise<ProviderCall> {
  switch (endpoint.kind) {
    case 'cmd': {
      const { runProviderCommand } = await import('../platform/key-provider-command.ts');
      return async (request) => interpretCommandOutcome(await runProviderCommand(endpoint, request, timeoutMs), timeoutMs);
    }
    case 'grpc': {
      const target = parseGrpcAddress(endpoint.address);
      const { http2UnaryExchange } = await import('../platform/key-provider-http2.ts');
      return async (request) =>
        interpretUnaryOutcome(
          await http2UnaryExchange({
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
