#!/usr/bin/env bash
# Installs ctd-decoder under $DESTDIR$PREFIX. The one place that knows the
# installed layout: `make install`, the .deb and the .tar.gz all use it.
#   bin/ctd-decoder
#   share/man/man1/ctd-decoder.1          (gzipped with COMPRESS_MAN=1, as Debian wants)
#   share/doc/ctd-decoder/LICENSE, THIRD-PARTY-NOTICES, README.md, docs/ (README links to it)
#   share/doc/ctd-decoder/ctd-decoder.cdx.json  the binary's SBOM (build-binary.sh writes it next to BINARY)
#   share/doc/ctd-decoder/examples/       config-examples/
# Nothing outside $PREFIX is touched: containerd's config is never edited.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX-/usr/local}"
DESTDIR="${DESTDIR-}"
BINARY="${BINARY:-dist/ctd-decoder}"
root="$DESTDIR$PREFIX"
doc="$root/share/doc/ctd-decoder"

install -D -m 0755 "$BINARY" "$root/bin/ctd-decoder"
install -D -m 0644 packaging/ctd-decoder.1 "$root/share/man/man1/ctd-decoder.1"
if [ "${COMPRESS_MAN:-0}" = 1 ]; then gzip -9nf "$root/share/man/man1/ctd-decoder.1"; fi
install -D -m 0644 LICENSE "$doc/LICENSE"
install -m 0644 README.md "$doc/README.md"
install -d -m 0755 "$doc/docs"
install -m 0644 docs/*.md "$doc/docs/"
bash packaging/third-party-notices.sh >"$doc/THIRD-PARTY-NOTICES"
if [ -f "$BINARY.cdx.json" ]; then install -m 0644 "$BINARY.cdx.json" "$doc/ctd-decoder.cdx.json"; fi
chmod 0644 "$doc/THIRD-PARTY-NOTICES"
install -d -m 0755 "$doc/examples"
install -m 0644 config-examples/* "$doc/examples/"
