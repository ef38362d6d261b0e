// The start-up floor of a decoder for `make bench`: built by
// packaging/build-binary.sh exactly like ctd-decoder, it only loads Node's
// crypto module, which any decoder on this runtime needs.
import { createHash } from 'node:crypto';

// Exported so that the bundler keeps the import (it drops an unused one).
export const loaded = typeof createHash;
