// The empty-SEA baseline for `make bench`: built by packaging/build-binary.sh
// exactly like ctd-decoder, with nothing to run.
export {};
