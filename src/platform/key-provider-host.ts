import type { KeyProviderHost } from '../keywrap/key-provider.ts';
import { parseKeyProviderConfig, type KeyProviderConfig } from '../keywrap/key-provider/config.ts';
import { readKeyProviderConfigFile, readKeyProviderTimeoutSetting } from './key-provider-config-file.ts';

/**
 * The key-provider scheme's view of this system. The config file is read
 * once, on the first call; each transport is loaded only when a provider of
 * its kind runs (node:http2 only for gRPC).
 */
export function systemKeyProviderHost(): KeyProviderHost {
  let config: KeyProviderConfig | undefined;
  return {
    config: () => (config ??= parseKeyProviderConfig(readKeyProviderConfigFile())),
    timeoutSetting: readKeyProviderTimeoutSetting,
    runCommand: async (command, request, timeoutMs) => (await import('./key-provider-command.ts')).runProviderCommand(command, request, timeoutMs),
    http2UnaryExchange: async (request) => (await import('./key-provider-http2.ts')).http2UnaryExchange(request),
  };
}
