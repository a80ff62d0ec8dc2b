#!/usr/bin/env bash
# Install what .ci/packages.txt lists and this machine lacks (apt-get, as root); with --check, only
# say what is missing and how to install it (exit 1 when something is).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
check=0
[[ "${1:-}" == "--check" ]] && check=1
missing=()
while read -r what pkg; do
  [[ -z "$what" || "$what" == \#* ]] && continue
  case "$what" in
    cmd:*) command -v "${what#cmd:}" >/dev/null 2>&1 && continue ;;
    file:*) [[ -e "${what#file:}" ]] && continue ;;
    dir:*) [[ -d "${what#dir:}" ]] && [[ -n "$(ls -A "${what#dir:}" 2>/dev/null)" ]] && continue ;;
  esac
  missing+=("$pkg")
done <"$here/packages.txt"
((${#missing[@]} == 0)) && exit 0
if ((check)) || [[ $(id -u) -ne 0 ]]; then
  echo "heapscope: missing packages: ${missing[*]}" >&2
  echo "Hint: sudo apt-get install -y ${missing[*]}   (or run this as root: bash .ci/install-deps.sh)" >&2
  exit 1
fi
echo "install-deps: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
