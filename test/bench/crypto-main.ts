// The start-up floor of a decoder for `make bench`: built by
// packaging/build-binary.sh exactly like ctd-decoder, it only loads Node's
// crypto module, which any decoder on this runtime needs.
import 'node:crypto';
