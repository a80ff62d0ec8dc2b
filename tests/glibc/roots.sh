#!/usr/bin/env bash
# Builds, once, the Debian roots whose other glibc releases `make test-glibc` runs victims in.
#
# Usage: bash tests/glibc/roots.sh [suite…]     (default: $HEAPSCOPE_GLIBC_SUITES or all below)
#
# Each root is `debootstrap --variant=minbase` plus gcc and libc6-dev (the victims and the truth
# interposer are compiled inside the root, against its own glibc), kept in
#   $HEAPSCOPE_GLIBC_CACHE  (default /var/cache/heapscope/glibc-roots)/<suite>
# A root is complete when <suite>/.heapscope-root exists (written last, with the glibc version);
# a build that stops half-way leaves <suite>.partial, which the next run deletes and redoes.
# Needs root and Debian's apt repositories ($HEAPSCOPE_DEBIAN_MIRROR, default deb.debian.org).
#
#   suite     glibc (checked by the test run, which prints the version it finds)
#   bullseye  2.31
#   trixie    2.41
#   sid       the newest Debian has (2.43 when this was written)
set -euo pipefail

CACHE=${HEAPSCOPE_GLIBC_CACHE:-/var/cache/heapscope/glibc-roots}
MIRROR=${HEAPSCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEFAULT_SUITES=${HEAPSCOPE_GLIBC_SUITES:-"bullseye trixie sid"}
# gcc for the victims and the interposer; libc6-dev for their headers and crt files.
PACKAGES=gcc,libc6-dev

fail() {
  echo "roots.sh: $1" >&2
  shift
  for hint in "$@"; do echo "Hint: $hint" >&2; done
  exit 1
}

[ "$(id -u)" = 0 ] || fail "building a Debian root needs root (debootstrap, chroot)" \
  "run it with sudo, or as root as CI does"
command -v debootstrap >/dev/null ||
  fail "debootstrap is not installed" "apt-get install -y debootstrap"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || read -r -a suites <<<"$DEFAULT_SUITES"
mkdir -p "$CACHE"
for suite in "${suites[@]}"; do
  root=$CACHE/$suite
  if [ -f "$root/.heapscope-root" ]; then
    echo "root $suite: cached in $root ($(cat "$root/.heapscope-root"))"
    continue
  fi
  echo "root $suite: building in $root (debootstrap, a few minutes)"
  rm -rf "$root.partial" "$root"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root.partial" "$MIRROR" \
    >"$CACHE/$suite.log" 2>&1 ||
    fail "debootstrap $suite failed (log: $CACHE/$suite.log)" \
      "check that $MIRROR is reachable and has the suite '$suite'" \
      "set HEAPSCOPE_DEBIAN_MIRROR to another Debian mirror"
  # sed reads all of ldd's output (head would close the pipe early: SIGPIPE under pipefail).
  version=$(chroot "$root.partial" ldd --version | sed -n '1s/.* \([0-9]\+\.[0-9]\+\)$/\1/p')
  [ -n "$version" ] || fail "cannot read the glibc version of the new $suite root" "see $CACHE/$suite.log"
  # The apt lists and .deb files are not needed to compile and run the victims.
  rm -rf "$root.partial/var/cache/apt/archives/"*.deb "$root.partial/var/lib/apt/lists/"*
  echo "glibc $version" >"$root.partial/.heapscope-root"
  mv "$root.partial" "$root"
  echo "root $suite: glibc $version"
done
