#!/usr/bin/env bash
# make reproducible-check: clones HEAD twice, into directories whose paths
# differ in length, and runs `make package` in each (npm ci, both
# architectures' binaries, packages, SBOMs, SHA256SUMS), the second with
# another umask, time zone and locale. Every binary and release file must be
# byte-identical. On a difference the two trees are kept for diffoscope.
# Uncommitted changes are not part of the check (it builds the commit).
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "reproducible-check: uncommitted changes are not checked (building $commit)" >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/ctd-decoder-reproducible.XXXXXX")
trees=("$work/a" "$work/a-checkout-with-a-much-longer-path/ctd-decoder")

build() { # TREE
  git clone --quiet --no-checkout "$PWD" "$1"
  git -C "$1" checkout --quiet --detach "$commit"
  make -C "$1" --no-print-directory package >"$1.log" 2>&1 || { cat "$1.log" >&2; echo "reproducible-check: make package failed in $1" >&2; exit 1; }
}
release_files() { # TREE: the hashes of the binaries and of everything in SHA256SUMS
  (cd "$1/dist" && sha256sum ctd-decoder ctd-decoder-linux-arm64 && cat SHA256SUMS)
}

started=$SECONDS
build "${trees[0]}"
(umask 002; TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 build "${trees[1]}")
if diff <(release_files "${trees[0]}") <(release_files "${trees[1]}") >"$work/difference"; then
  release_files "${trees[0]}"
  echo "reproducible-check: $commit gives byte-identical binaries and release files in two trees ($((SECONDS - started)) s)"
  rm -rf "$work"
else
  cat "$work/difference"
  echo "reproducible-check: the builds differ; compare ${trees[0]}/dist and ${trees[1]}/dist (e.g. with diffoscope)" >&2
  exit 1
fi
