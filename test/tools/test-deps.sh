#!/usr/bin/env bash
# The Debian packages of packaging/test-deps.
#   test-deps.sh install   apt-get install them (root)
#   test-deps.sh ensure    install them if one is missing and we are root; otherwise say what is missing
#                          (the suites that need it then skip, and `make test` lists them at the end)
set -euo pipefail
list=$(dirname "$0")/../../packaging/test-deps
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
}

missing() {
  local installed
  installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${packages[@]}" 2>/dev/null | awk '$1 == "ii" {print $2}')
  for p in "${packages[@]}"; do grep -qx "$p" <<<"$installed" || echo "$p"; done
}

case "${1:-}" in
  install) install ;;
  ensure)
    command -v dpkg-query >/dev/null || { echo "test-deps: not a Debian system; suites that need Debian packages will skip"; exit 0; }
    absent=$(missing | tr '\n' ' ')
    [ -n "$absent" ] || exit 0
    if [ "$(id -u)" = 0 ]; then
      echo "test-deps: installing missing packages: $absent"
      install
    else
      echo "test-deps: missing $absent- run 'sudo make test-deps'; the suites that need them skip"
    fi
    ;;
  *) echo "usage: $0 install|ensure" >&2; exit 2 ;;
esac
