#!/usr/bin/env bash
# Runs programs from a newer Debian suite (trixie, forky, sid) on this Debian 12
# machine without installing anything system-wide: the suite's .debs and their
# whole dependency closure are fetched with a private apt state, unpacked with
# dpkg-deb -x into a private tree, and the named packages' programs are copied
# to the tree's bin/ with their ELF interpreter and library path pointed at the
# tree's own dynamic loader and libraries (patchelf). Programs that re-execute
# themselves (containerd's shim does, through /proc/self/exe) keep working,
# which a `ld.so --library-path` wrapper would break.
#
#   usage: test/tools/debian-tree.sh NAME SUITE PACKAGE...
#   prints the tree's bin/ directory; the tree lives in $DEBIAN_TREES/NAME
#   (default build/tools/NAME) and is reused while NAME, SUITE and the package
#   list stay the same.
#   example: PATH="$(test/tools/debian-tree.sh containerd-2.1 forky containerd runc):$PATH"
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 NAME SUITE PACKAGE..." >&2; exit 2; }
name=$1 suite=$2
shift 2
packages=("$@")
trees=$(realpath -m "${DEBIAN_TREES:-$(dirname "$0")/../../build/tools}")
tree=$trees/$name
root=$tree/root
bin=$tree/bin
stamp="$suite ${packages[*]}"
if [ -f "$tree/complete" ] && [ "$(cat "$tree/complete")" = "$stamp" ]; then
  echo "$bin"
  exit 0
fi
command -v patchelf >/dev/null || { echo "$0: needs patchelf (apt-get install patchelf)" >&2; exit 1; }

# The machine's own Debian mirror, read from its apt sources (never written down here).
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
[ -n "$mirror" ] || { echo "$0: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }

apt_dir=$tree/apt
rm -rf "$tree"
mkdir -p "$apt_dir"/{lists/partial,archives/partial,sourceparts} "$root" "$bin"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/sourceparts"
  -o "Dir::State=$apt_dir" -o "Dir::State::status=/dev/null" -o "Dir::Cache=$apt_dir" -o "Debug::NoLocking=1"
  -o "APT::Architecture=amd64" -o "APT::Architectures=amd64")
apt-get "${apt_opts[@]}" -q update >&2
apt-get "${apt_opts[@]}" -q -y -d --no-install-recommends install "${packages[@]}" >&2
for deb in "$apt_dir"/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done

loader=$root/usr/lib64/ld-linux-x86-64.so.2
[ -e "$loader" ] || loader=$root/lib64/ld-linux-x86-64.so.2
libs=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu
# The named packages' programs, each made to load the tree's libraries.
for package in "${packages[@]}"; do
  deb=$(ls "$apt_dir"/archives/"${package}"_*.deb)
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' |
    grep -E '^/(usr/)?s?bin/[^/]+$' | while read -r program; do
      file=$root$program
      [ -f "$file" ] && [ ! -L "$file" ] && head -c 4 "$file" | grep -q 'ELF' || continue
      cp "$file" "$bin/"
      if patchelf --print-interpreter "$bin/${program##*/}" >/dev/null 2>&1; then
        patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libs" "$bin/${program##*/}"
      fi
    done
done
rm -rf "$apt_dir"
echo "$stamp" >"$tree/complete"
echo "$bin"
