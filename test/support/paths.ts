import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
/** The binary under test: CTD_DECODER_BIN, else the one `make build` made. */
export const DECODER_BIN = process.env['CTD_DECODER_BIN'] ?? join(REPO_ROOT, 'dist', 'ctd-decoder');
/**
 * A command that runs DECODER_BIN on this machine, split on spaces:
 * CTD_DECODER_RUNNER, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu` for the
 * arm64 binary (make test-arm64); none by default.
 */
const DECODER_RUNNER = (process.env['CTD_DECODER_RUNNER'] ?? '').split(' ').filter(Boolean);
/** True when the binary under test runs under an emulator (CTD_DECODER_RUNNER): starts are slow. */
export const DECODER_EMULATED = DECODER_RUNNER.length > 0;
/** The file and arguments that run `binary args...` (DECODER_BIN by default) through the runner, for spawn. */
export function decoderCommand(args: readonly string[], binary: string = DECODER_BIN): [string, string[]] {
  const [file, ...rest] = [...DECODER_RUNNER, binary, ...args];
  return [file!, rest];
}
