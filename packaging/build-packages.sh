#!/usr/bin/env bash
# Builds the release packages of one architecture from a built binary (make package):
#   ctd-decoder_<version>_<amd64|arm64>.deb          for dpkg/apt; installs under /usr
#   ctd-decoder-<version>-linux-<x64|arm64>.tar.gz   the same files under ctd-decoder-<version>-linux-<arch>/
#   ctd-decoder-<version>-linux-<x64|arm64>.cdx.json the binary's CycloneDX SBOM (also inside both)
# The .deb also holds /etc/containerd/ocicrypt/keys, mode 0700, root's: dpkg
# creates it on install and, being a directory with files the package does not
# own, never deletes it with keys inside. It ships no conffile and no
# maintainer script: containerd's config.toml is never touched.
# Reproducible: every file's time is SOURCE_DATE_EPOCH (the commit's), owners
# are root, the order is by name, and gzip stores no name or time.
# ARCH (x64 or arm64), BINARY (default: ARCH's dist/ binary), OUTPUT_DIR
# (default dist) and DEB_MAINTAINER may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/arch.sh
umask 022
BINARY="${BINARY:-$default_binary}"
OUTPUT_DIR="${OUTPUT_DIR:-dist}"
# The Debian Maintainer field: a release sets the project's real address.
maintainer="${DEB_MAINTAINER:-ctd-decoder developers <ctd-decoder@example.org>}"
version="$("$host_node" -p 'require("./package.json").version')"
[ -x "$BINARY" ] || { echo "build-packages.sh: $BINARY is missing; run make build (ARCH=arm64: make build-arm64)" >&2; exit 1; }
[ -f "$BINARY.cdx.json" ] || { echo "build-packages.sh: $BINARY.cdx.json (the SBOM build-binary.sh writes) is missing" >&2; exit 1; }
mkdir -p "$OUTPUT_DIR"
OUTPUT_DIR="$(cd "$OUTPUT_DIR" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
name="ctd-decoder-$version-linux-$ARCH"
clamp_times() { find "$1" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +; }

# ------------------------------------------------------------------ .tar.gz (compressed while the .deb is built)
DESTDIR="$work/tar/$name" PREFIX= BINARY="$BINARY" bash packaging/install-files.sh
clamp_times "$work/tar"
tar_file="$OUTPUT_DIR/$name.tar.gz"
tar -C "$work/tar" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -cf - "$name" | gzip -6n >"$tar_file" &
tar_job=$!

# ------------------------------------------------------------------ .deb
deb="$work/deb"
doc="$deb/usr/share/doc/ctd-decoder"
DESTDIR="$deb" PREFIX=/usr BINARY="$BINARY" COMPRESS_MAN=1 bash packaging/install-files.sh
# Debian's place for the license is doc/<package>/copyright, in the
# machine-readable format, pointing at Debian's copy of the Apache license.
rm "$doc/LICENSE"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ctd-decoder
Comment: usr/bin/ctd-decoder is a single executable that also contains the
 Node.js $("$host_node" -p "require('./node_modules/node-linux-$ARCH/package.json').version") runtime (MIT, and the licenses of its parts) and the npm packages
$("$host_node" packaging/build-info.ts "$ARCH" | "$host_node" -e '
  const { packages } = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
  console.log(" " + packages.map((p) => `${p.name} ${p.version} (${p.license})`).join(", ") + ".");')
 Their copyright notices and license texts are in
 /usr/share/doc/ctd-decoder/THIRD-PARTY-NOTICES, which also says how to
 rebuild ctd-decoder with a modified openpgp (LGPL-3.0-or-later).

Files: *
Copyright: 2026 ctd-decoder developers
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can
 be found in "/usr/share/common-licenses/Apache-2.0".
COPYRIGHT
# A native package's changelog: one entry per version, dated by the commit.
gzip -9n >"$doc/changelog.gz" <<CHANGELOG
ctd-decoder ($version) unstable; urgency=medium

  * ctd-decoder $version: see /usr/share/doc/ctd-decoder/README.md.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGELOG
install -D -m 0644 packaging/lintian-overrides "$deb/usr/share/lintian/overrides/ctd-decoder"
install -d -m 0700 "$deb/etc/containerd/ocicrypt/keys"
install -d -m 0755 "$deb/DEBIAN"
chmod 0644 "$doc/copyright" "$doc/changelog.gz"
(cd "$deb" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$deb/DEBIAN/md5sums"
# Installed-Size as dpkg-gencontrol counts it (KiB per file, rounded up, and 1
# per directory): du's figure depends on the file system that builds.
installed_size=$(cd "$deb" && find . -path ./DEBIAN -prune -o \( -type f -printf '%s\n' -o -printf '1024\n' \) |
  awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
cat >"$deb/DEBIAN/control" <<CONTROL
Package: ctd-decoder
Version: $version
Architecture: $deb_arch
Maintainer: $maintainer
Installed-Size: $installed_size
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
clamp_times "$deb"
deb_file="$OUTPUT_DIR/ctd-decoder_${version}_$deb_arch.deb"
# gzip: every dpkg reads it, and it is quick on a 100 MB binary. dpkg-deb
# dates the archive members by SOURCE_DATE_EPOCH.
dpkg-deb --root-owner-group -Zgzip --build "$deb" "$deb_file" >/dev/null

install -m 0644 "$BINARY.cdx.json" "$OUTPUT_DIR/$name.cdx.json"
wait "$tar_job"

echo "built $deb_file ($(du -h "$deb_file" | cut -f1)), $tar_file ($(du -h "$tar_file" | cut -f1)) and $name.cdx.json"
