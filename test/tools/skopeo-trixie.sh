#!/usr/bin/env bash
# Makes skopeo 1.18 (Debian trixie) runnable on this Debian 12 machine without
# installing anything system-wide: the trixie .debs are fetched with a private
# apt state, unpacked with dpkg-deb -x into a private tree, and run through
# that tree's own dynamic loader (skopeo 1.18 needs glibc >= 2.38).
# Prints the path of a wrapper script that behaves like `skopeo`.
#   usage: test/tools/skopeo-trixie.sh [TOOLS_DIR]   (default: build/tools)
set -euo pipefail
tools=$(realpath -m "${1:-$(dirname "$0")/../../build/tools}")
root=$tools/skopeo-trixie
wrapper=$tools/skopeo-1.18
if [ -x "$wrapper" ] && "$wrapper" --version >/dev/null 2>&1; then
  echo "$wrapper"
  exit 0
fi
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
apt_dir=$tools/apt-trixie
rm -rf "$root" "$apt_dir"
mkdir -p "$apt_dir"/{lists/partial,archives/partial,sourceparts} "$root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/sourceparts"
  -o "Dir::State=$apt_dir" -o "Dir::State::status=/dev/null" -o "Dir::Cache=$apt_dir" -o "Debug::NoLocking=1")
apt-get "${apt_opts[@]}" -q update >&2
apt-get "${apt_opts[@]}" -q -y -d --no-install-recommends install skopeo >&2
for deb in "$apt_dir"/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
rm -rf "$apt_dir"
cat >"$wrapper" <<WRAP
#!/bin/sh
exec "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" "$root/usr/bin/skopeo" "\$@"
WRAP
chmod +x "$wrapper"
"$wrapper" --version >&2
echo "$wrapper"
