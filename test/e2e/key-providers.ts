// Key providers for the end-to-end suite: the test command provider and the
// test gRPC provider of test/key-provider/ (each seals a layer's private
// options under its own secret, as a KMS would), configured in ocicrypt's
// JSON format in whatever file the test names: for the decoder inside
// containerd that is the file the stream processors' env
// OCICRYPT_KEYPROVIDER_CONFIG names (Containerd.keyProviderConfig), and skopeo
// 1.18 encrypts through the same file (docs/key-providers.md, end to end).
//
//   command  `node test/key-provider/command-provider.ts --record FILE`, run
//            by the decoder (no shell) on the repository's Node 24.
//   gRPC     startGrpcProvider() in this test process, h2c on a unix socket
//            under the e2e temp dir; closed by the cleanup stack.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGrpcProvider } from '../key-provider/grpc-server.ts';
import type { Cleanup } from './harness.ts';
import type { EncryptionRecipient } from './oci-image.ts';

const COMMAND_PROVIDER = fileURLToPath(new URL('../key-provider/command-provider.ts', import.meta.url));

/** One `key-providers` entry of ocicrypt's config. */
export type ProviderEntry = { cmd: { path: string; args: string[] } } | { grpc: string };

/** A key-provider request as the provider received it. */
export interface ProviderRequest {
  op: string;
  keyunwrapparams?: { dc?: { Parameters?: Record<string, unknown> | null } | null; annotation?: string };
}

export class TestKeyProviders {
  readonly dir: string;
  /** `unix:/…/grpc.sock` */
  readonly grpcAddress: string;
  readonly #commandLog: string;
  readonly #grpcRequests: string[];

  private constructor(dir: string, grpcAddress: string, grpcRequests: string[]) {
    this.dir = dir;
    this.grpcAddress = grpcAddress;
    this.#commandLog = path.join(dir, 'command-requests.log');
    this.#grpcRequests = grpcRequests;
  }

  /** Starts the gRPC provider (the command provider is started by whoever calls it). */
  static async start(dir: string, cleanup: Cleanup): Promise<TestKeyProviders> {
    fs.mkdirSync(dir, { recursive: true });
    const grpcRequests: string[] = [];
    const grpc = await startGrpcProvider({ listen: { path: path.join(dir, 'grpc.sock') }, onRequest: (json) => grpcRequests.push(json) });
    cleanup.add('stop the gRPC key provider', () => grpc.close());
    return new TestKeyProviders(dir, grpc.address, grpcRequests);
  }

  /** The command provider's entry; `fail` makes it exit 7 with a message on stderr (test/key-provider/command-provider.ts). */
  command(behave: 'ok' | 'fail' = 'ok'): ProviderEntry {
    return { cmd: { path: process.execPath, args: [COMMAND_PROVIDER, '--record', this.#commandLog, '--behave', behave] } };
  }

  grpc(): ProviderEntry {
    return { grpc: this.grpcAddress };
  }

  /** Writes ocicrypt's key-provider config (replacing the file). */
  static writeConfig(file: string, providers: Record<string, ProviderEntry>): void {
    fs.writeFileSync(file, JSON.stringify({ 'key-providers': providers }, null, 2));
  }

  /**
   * A recipient wrapped by provider `name` as `configFile` configures it:
   * skopeo's `--encryption-key provider:<name>:<parameter>` (skopeo 1.18).
   */
  static recipient(name: string, configFile: string, skopeo: string): EncryptionRecipient {
    return { scheme: `provider.${name}`, encryptionKey: `provider:${name}:e2e`, env: { OCICRYPT_KEYPROVIDER_CONFIG: configFile }, skopeo };
  }

  /** Every request each provider has received so far, oldest first (skopeo's keywrap calls included). */
  requests(): { command: ProviderRequest[]; grpc: ProviderRequest[] } {
    const command = fs.existsSync(this.#commandLog) ? fs.readFileSync(this.#commandLog, 'utf8').split('\n').filter(Boolean) : [];
    return {
      command: command.map((line) => JSON.parse(line) as ProviderRequest),
      grpc: this.#grpcRequests.map((json) => JSON.parse(json) as ProviderRequest),
    };
  }
}
