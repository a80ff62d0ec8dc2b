#!/usr/bin/env bash
# `make test-glibc`: build (once) the Debian roots with other glibc releases, then run the victims in
# each and analyse them from outside (tests/glibc/releases.ts). Needs root.
#
# Usage: bash tests/glibc/releases.sh [suite…]   (default: bullseye trixie sid)
# Roots: $HEAPSCOPE_GLIBC_CACHE (default /var/cache/heapscope/glibc-roots); see tests/glibc/roots.sh.
# Everything heavy runs under the shared lock /tmp/heapscope-heavy.lock.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

for tool in debootstrap unshare chroot; do
  command -v "$tool" >/dev/null || {
    echo "releases.sh: $tool is not installed" >&2
    echo "Hint: apt-get install -y debootstrap util-linux coreutils" >&2
    exit 2
  }
done
[ -x node_modules/.bin/deno ] && [ -f build/libheapscope.so ] || {
  echo "releases.sh: heapscope is not built" >&2
  echo "Hint: make" >&2
  exit 2
}
start=$(date +%s)
flock /tmp/heapscope-heavy.lock bash tests/glibc/roots.sh "$@"
flock /tmp/heapscope-heavy.lock node_modules/.bin/deno run -A tests/glibc/releases.ts "$@"
echo "test-glibc: $(($(date +%s) - start)) s"
