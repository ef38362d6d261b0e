#!/usr/bin/env bash
# Compiles pkcs11js's N-API addon for ARCH with node-gyp, against the headers
# of the Node runtime it is embedded in (package.json denies pkcs11js's npm
# install script, so npm never builds it for whichever node runs npm):
#   x64    in place: node_modules/pkcs11js/build/Release/pkcs11.node (runs from the sources use it too)
#   arm64  in a copy, with Debian's cross compiler: build/arm64/pkcs11js/build/Release/pkcs11.node
# Source paths are mapped to "." so that no checkout path ends up in the addon.
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/arch.sh
source_dir=node_modules/pkcs11js
nodedir=$PWD/node_modules/node-linux-$ARCH
[ -d "$nodedir/include/node" ] || { echo "build-addon.sh: no Node headers in $nodedir (for arm64: make build-arm64 fetches them)" >&2; exit 1; }
if [ "$ARCH" = x64 ]; then
  dir=$source_dir
else
  dir=build/$ARCH/pkcs11js
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$source_dir"/{package.json,binding.gyp,src,includes} "$dir/"
  export CC=$gnu_triplet-gcc CXX=$gnu_triplet-g++ LINK=$gnu_triplet-g++ AR=$gnu_triplet-ar
fi
dir=$(cd "$dir" && pwd)
export CFLAGS="-ffile-prefix-map=$dir=." CXXFLAGS="-ffile-prefix-map=$dir=. -ffile-prefix-map=$nodedir=node"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd "$dir" && rm -rf build && npm run --silent build --nodedir="$nodedir" --arch="$ARCH") >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
echo "built $dir/build/Release/pkcs11.node"
