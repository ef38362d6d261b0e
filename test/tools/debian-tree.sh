#!/usr/bin/env bash
# Runs programs from a newer Debian suite (trixie, forky, sid) on this Debian 12
# machine without installing anything system-wide: the suite's .debs and their
# whole dependency closure are fetched with a private apt state, unpacked with
# dpkg-deb -x into a private tree, and the named packages' programs are copied
# to the tree's bin/ with their ELF interpreter and library path pointed at the
# tree's own dynamic loader and libraries (patchelf). Programs that re-execute
# themselves (containerd's shim does, through /proc/self/exe) keep working,
# which a `ld.so --library-path` wrapper would break. The named packages'
# shared libraries get the same library path, so a module that a program
# dlopens by path (libsofthsm2.so) finds its dependencies in the tree.
# --arch fetches another architecture's packages (arm64, run under qemu-user).
#
#   usage: test/tools/debian-tree.sh [--arch amd64|arm64] NAME SUITE PACKAGE...
#   prints the tree's bin/ directory; the unpacked packages are in root/ beside
#   it. The tree lives in $DEBIAN_TREES/NAME (default build/tools/NAME) and is
#   reused while NAME, SUITE, the architecture and the package list stay the same.
#   example: PATH="$(test/tools/debian-tree.sh containerd-2.1 forky containerd runc):$PATH"
set -euo pipefail
usage="usage: $0 [--arch amd64|arm64] NAME SUITE PACKAGE..."
arch=amd64
if [ "${1:-}" = --arch ]; then arch=${2:-}; shift 2 || true; fi
case $arch in
  amd64) triplet=x86_64-linux-gnu loader_name=ld-linux-x86-64.so.2 ;;
  arm64) triplet=aarch64-linux-gnu loader_name=ld-linux-aarch64.so.1 ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
name=$1 suite=$2
shift 2
packages=("$@")
trees=$(realpath -m "${DEBIAN_TREES:-$(dirname "$0")/../../build/tools}")
tree=$trees/$name
root=$tree/root
bin=$tree/bin
stamp="$suite ${packages[*]}"
[ "$arch" = amd64 ] || stamp="$stamp ($arch)"
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
  -o "APT::Architecture=$arch" -o "APT::Architectures=$arch")
apt-get "${apt_opts[@]}" -q update >&2
apt-get "${apt_opts[@]}" -q -y -d --no-install-recommends install "${packages[@]}" >&2
for deb in "$apt_dir"/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done

loader=
for candidate in usr/lib64 lib64 usr/lib lib "usr/lib/$triplet" "lib/$triplet"; do
  [ -e "$root/$candidate/$loader_name" ] && { loader=$root/$candidate/$loader_name; break; }
done
[ -n "$loader" ] || { echo "$0: no $loader_name in the tree" >&2; exit 1; }
libs=$root/usr/lib/$triplet:$root/lib/$triplet
is_elf() { [ -f "$1" ] && [ ! -L "$1" ] && head -c 4 "$1" | grep -q 'ELF'; }
# The named packages' programs, each made to load the tree's libraries, and
# their shared libraries, made to find their dependencies there (DT_RPATH, which
# unlike DT_RUNPATH also serves the libraries they pull in).
for package in "${packages[@]}"; do
  deb=$(ls "$apt_dir"/archives/"${package}"_*.deb)
  files=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
  { grep -E '^/(usr/)?s?bin/[^/]+$' <<<"$files" || true; } | while read -r program; do
    is_elf "$root$program" || continue
    cp "$root$program" "$bin/"
    if patchelf --print-interpreter "$bin/${program##*/}" >/dev/null 2>&1; then
      patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libs" "$bin/${program##*/}"
    fi
  done
  { grep -E '\.so(\.[0-9]+)*$' <<<"$files" || true; } | while read -r library; do
    is_elf "$root$library" || continue
    patchelf --force-rpath --set-rpath "$libs" "$root$library"
  done
done
rm -rf "$apt_dir"
echo "$stamp" >"$tree/complete"
echo "$bin"
