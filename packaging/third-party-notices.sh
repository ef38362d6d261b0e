#!/usr/bin/env bash
# Prints THIRD-PARTY-NOTICES: the licenses of everything bundled into the
# ctd-decoder binary, i.e. the runtime dependencies of package.json (esbuild
# bundles them; pkcs11js is compiled into an addon) and the Node.js runtime
# the binary is made of (node-linux-$ARCH: its LICENSE covers V8, OpenSSL,
# ICU, libuv, zlib and the rest). Read from node_modules, so the notices
# always match the versions that were built. openpgp's section says how to
# rebuild with a modified openpgp (LGPL-3.0 section 4).
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/arch.sh

cat <<'HEADER'
ctd-decoder bundles the following software. Each is distributed under its
own license, reproduced below. The exact versions are listed by
`ctd-decoder --version --verbose` and, with their sha512 checksums, in the
CycloneDX SBOM shipped next to this file (ctd-decoder.cdx.json).
HEADER

section() { # package directory
  local dir="$1" license
  license="$(find "$dir" -maxdepth 1 -iname 'LICENSE*' | sort | head -n 1)"
  [ -n "$license" ] || { echo "third-party-notices.sh: no license file in $dir" >&2; exit 1; }
  printf '\n==============================================================================\n'
  "$host_node" -p "const p = require('./$dir/package.json'); p.name + ' ' + p.version + ' (' + (p.license ?? 'see below') + ')'"
  printf '==============================================================================\n\n'
  cat "$license"
}

openpgp_version=$("$host_node" -p "require('./node_modules/openpgp/package.json').version")
for name in $("$host_node" -p "Object.keys(require('./package.json').dependencies ?? {}).join('\n')"); do
  section "node_modules/$name"
  case "$name" in
    openpgp) cat <<OPENPGP

------------------------------------------------------------------------------
openpgp in ctd-decoder, and how to use a modified openpgp (LGPL-3.0, section 4)
------------------------------------------------------------------------------

ctd-decoder contains openpgp $openpgp_version unmodified: esbuild bundles the
package's dist/node/openpgp.mjs into a bundle of its own ("openpgp.js", with
its V8 code cache "openpgp.code-cache"), embedded in the executable as a
Single Executable Application asset and loaded only for OpenPGP layers. The
rest of ctd-decoder uses it only through openpgp's public API.

The source of this exact version is one command away:

    npm pack openpgp@$openpgp_version      # the published package that was bundled

(its original sources: https://github.com/openpgpjs/openpgpjs, tag v$openpgp_version).

To rebuild ctd-decoder with a modified openpgp, from ctd-decoder's sources of
this release:

    npm ci --no-audit --no-fund
    rm -rf node_modules/openpgp
    cp -r /path/to/your/openpgp node_modules/openpgp   # a built package: package.json, dist/node/openpgp.mjs
    make clean build                                   # dist/ctd-decoder (make package: the .deb and .tar.gz)

The build needs only this machine: Node, esbuild and the Node runtime come
from npm (package-lock.json), the PKCS#11 addon from Debian's g++. A build
with a modified openpgp still lists openpgp $openpgp_version's sha512 in its SBOM:
change the version in your copy's package.json to tell them apart.

The GNU Lesser General Public License 3.0 adds permissions to the GNU General
Public License 3.0, whose text follows.

OPENPGP
      gpl3=/usr/share/common-licenses/GPL-3
      [ -f "$gpl3" ] || { echo "third-party-notices.sh: $gpl3 is missing (Debian's base-files)" >&2; exit 1; }
      cat "$gpl3" ;;
    pkcs11js) cat <<'PKCS11'

The pkcs11js addon is derived from the RSA Security Inc. PKCS #11
Cryptographic Token Interface (Cryptoki): it is compiled against its header
files (in pkcs11js's includes/), which carry this notice:

PKCS11
      # The notice, verbatim from the header pkcs11js compiles against.
      sed -n '/License to copy and use this software/,/warranty of any kind/p' node_modules/pkcs11js/includes/pkcs11/pkcs11.h | sed 's/^ \* \{0,1\}//; s/^\/\* //'
      ;;
  esac
done
printf '\n==============================================================================\n'
printf 'Node.js %s (the runtime of the single executable, from the npm package node-linux-%s)\n' \
  "$("$host_node" -p "require('./node_modules/node-linux-$ARCH/package.json').version")" "$ARCH"
printf '==============================================================================\n\n'
cat "node_modules/node-linux-$ARCH/LICENSE"
