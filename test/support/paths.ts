import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
/** The binary under test: CTD_DECODER_BIN, else the one `make build` made. */
export const DECODER_BIN = process.env['CTD_DECODER_BIN'] ?? join(REPO_ROOT, 'dist', 'ctd-decoder');
