/**
 * Running the built binary on one fixture layer and checking what it did:
 * the helpers every scheme's binary tests share (test/binary/*.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ERROR_LINE, keysDirectoryWith, layerCaseNames, loadLayerCase, sha256 } from './fixtures.ts';
import { encodePayload, type Parameters } from './payload.ts';
import { DECODER_EMULATED } from './paths.ts';
import { runDecoder, type DecoderRun } from './run-decoder.ts';

/** What the helpers use of a layer: a LayerCase, or a test's variant of one. */
export interface TestLayer {
  encrypted: Buffer;
  plain: Buffer;
  descriptor: { digest: string };
}

/**
 * Runs the decoder as containerd does: the layer blob on stdin, the payload
 * (descriptor, decrypt parameters) on fd 3, `--decryption-keys-path keysDir`
 * unless keysDir is null; env as runDecoder's (default: PATH only).
 */
export function decrypt(
  layer: TestLayer,
  keysDir: string | null,
  parameters: Parameters | null = null,
  descriptor: unknown = layer.descriptor,
  env?: NodeJS.ProcessEnv,
): Promise<DecoderRun> {
  return runDecoder({
    args: keysDir === null ? [] : ['--decryption-keys-path', keysDir],
    stdin: layer.encrypted,
    payload: encodePayload(descriptor, parameters),
    env,
  });
}

/** Exit 0, nothing on stderr, stdout byte for byte the layer's blob.plain. */
export function assertDecrypted(run: DecoderRun, layer: Pick<TestLayer, 'plain'>): void {
  assert.equal(run.stderr, '', run.stderr);
  assert.equal(run.code, 0);
  assert.equal(sha256(run.stdout), sha256(layer.plain));
}

/**
 * One test per case of a scheme's fixtures and key file in its
 * recipients.txt: the layer decrypts with that key file alone in the keys
 * directory (call inside a describe).
 */
export function itDecryptsEveryCaseWithEachRecipient(scheme: string): void {
  const keysTried = new Set<string>();
  for (const name of layerCaseNames(scheme)) {
    const layer = loadLayerCase(scheme, name);
    // Under an emulator (make test-arm64) a start costs ~1 s of CPU: each case
    // runs once, with a key file not tried yet where it has one, so every case
    // and every key file (each algorithm of the runtime's crypto) still decrypt.
    const keys = DECODER_EMULATED ? [layer.recipients.find((key) => !keysTried.has(key)) ?? layer.recipients[0]!] : layer.recipients;
    for (const key of keys) {
      keysTried.add(key);
      it(`${name} with ${key}`, async () => assertDecrypted(await decrypt(layer, keysDirectoryWith(scheme, key)), layer));
    }
  }
}

export interface ExpectedFailure {
  /** The layer the line must name (`layer sha256:…:`); null where no layer is checked. */
  layer: Pick<TestLayer, 'descriptor'> | null;
  /** Nothing may reach stdout. */
  noOutput?: boolean;
  /** Text stderr must not contain (passwords, PINs, unwrapped keys). */
  secrets?: readonly string[];
}

/**
 * Exit 1 and stderr exactly one line in the coded format (ERROR_LINE) with
 * `code`, plus what `expected` asks for. Returns the ERROR_LINE match.
 */
export function assertCodedFailure(run: DecoderRun, code: string, expected: ExpectedFailure): RegExpExecArray {
  assert.equal(run.code, 1, `exit code; stderr: ${run.stderr}`);
  if (expected.noOutput) assert.equal(run.stdout.length, 0);
  const match = ERROR_LINE.exec(run.stderr);
  assert.ok(match, `one coded line expected, got: ${JSON.stringify(run.stderr)}`);
  assert.equal(match[1], code, run.stderr);
  if (expected.layer !== null) assert.ok(run.stderr.includes(`layer ${expected.layer.descriptor.digest}:`), run.stderr);
  for (const secret of expected.secrets ?? []) assert.ok(!run.stderr.includes(secret), 'stderr shows a secret');
  return match;
}
