#!/usr/bin/env bash
# bench/real_programs.sh: heapscope and valgrind memcheck side by side on real programs we did not
# write (libstdc++, libxml2, sqlite3, Rust's std, GLib, python3 + ctypes, nginx, memcached), at the same
# point of the same program.
#
#   attach: the program runs to its READY line and waits; valgrind's `vgdb leak_check full` on a
#           run under valgrind, `heapscope <pid>` on a native run (the programs are deterministic:
#           both runs leak the same blocks).
#   exit:   the program runs to exit; `valgrind --leak-check=full` against `heapscope run`.
#   servers: nginx and memcached under load from this machine (127.0.0.1 only), then attach: 0.
#
# Columns (blocks): valgrind definitely+indirectly lost (possibly lost in brackets), heapscope
# leaked (possible in brackets) and the share of valgrind's count heapscope found (leaked, and
# leaked + possible). "false+" counts heapscope leaks valgrind does not call lost or possibly lost
# (by count: heapscope leaked − valgrind's definitely+indirectly+possibly, at least 0). "sites"
# compares heapscope run and valgrind at exit per allocation site (bench/valgrind_compare.ts):
# the sites whose counts differ.
#
# Usage: bash bench/real_programs.sh [--fast] [--json FILE]
#   --fast: the C++ and libxml2 programs only (what CI runs).
# Needs: valgrind, g++, libxml2-dev, libsqlite3-dev, libglib2.0-dev, rustc, python3, nginx,
# memcached, curl, jq.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HS="$ROOT/heapscope"
OUT=build/real_programs
FAST=0
JSON=""
while (($#)); do
  case "$1" in
    --fast) FAST=1 ;;
    --json) JSON="$2"; shift ;;
    *) echo "usage: $0 [--fast] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
SRC=bench/real_programs

# ---- build -------------------------------------------------------------------------------------
g++ -std=c++17 -g -O1 -o "$OUT/sessions" "$SRC/sessions.cpp"
gcc -g -O1 -I/usr/include/libxml2 -o "$OUT/xmldocs" "$SRC/xmldocs.c" -lxml2
if ((!FAST)); then
  gcc -g -O1 -o "$OUT/connections" "$SRC/connections.c" -lsqlite3
  rustc -g -C opt-level=1 -o "$OUT/graph" "$SRC/graph.rs" 2>/dev/null
  g++ -std=c++17 -g -O1 -o "$OUT/containers" "$SRC/containers.cpp"
  # shellcheck disable=SC2046
  gcc -g -O1 $(pkg-config --cflags glib-2.0) -o "$OUT/gcache" "$SRC/gcache.c" \
    $(pkg-config --libs glib-2.0)
fi

TMP=$(mktemp -d /tmp/hs-real.XXXXXX)
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# Wait until file $1 has a READY line (at most $2 seconds).
wait_ready() {
  local end=$((SECONDS + ${2:-120}))
  until grep -q READY "$1" 2>/dev/null; do
    ((SECONDS < end)) || { echo "no READY in $1" >&2; return 1; }
    sleep 0.05
  done
}

# "definitely lost: 2,632 bytes in 17 blocks" → 17, from valgrind output $1 for kind $2.
vg_blocks() {
  grep -E "$2 lost:|$2 reachable:" "$1" | tail -1 | sed -E 's/.* in ([0-9,]+) (\(\+[0-9,]+\) )?blocks.*/\1/' |
    tr -d , || echo 0
}

# valgrind at the READY point: def+ind, possibly. Args: name, command...
vg_attach() {
  local name=$1; shift
  local d="$TMP/vga-$name"; mkdir -p "$d"; mkfifo "$d/in"
  valgrind --vgdb=yes --vgdb-error=1000000 --log-file="$d/log" "$@" <"$d/in" >"$d/out" 2>&1 &
  local vpid=$!
  exec 7>"$d/in"
  wait_ready "$d/out" 300
  vgdb --pid="$vpid" leak_check full kinds all >"$d/check" 2>&1
  exec 7>&-
  wait "$vpid" || true
  local def ind pos
  def=$(vg_blocks "$d/check" definitely); ind=$(vg_blocks "$d/check" indirectly)
  pos=$(vg_blocks "$d/check" possibly)
  echo "$((def + ind)) $pos"
}

# heapscope at the READY point: leaked, possible, seconds. Args: name, command...
hs_attach() {
  local name=$1; shift
  local d="$TMP/hsa-$name"; mkdir -p "$d"; mkfifo "$d/in"
  "$@" <"$d/in" >"$d/out" 2>&1 &
  local pid=$!
  exec 7>"$d/in"
  wait_ready "$d/out" 120
  local t0=$EPOCHREALTIME
  "$HS" "$pid" -o "$d/leaks.json" --quiet || true
  local t1=$EPOCHREALTIME
  exec 7>&-
  wait "$pid" || true
  jq -r '"\(.summary.leaked) \(.summary.possible // 0)"' "$d/leaks.json" | tr -d '\n'
  printf ' %.1f\n' "$(echo "$t1 - $t0" | bc)"
}

# valgrind to exit: def+ind, possibly.
vg_exit() {
  local name=$1; shift
  local d="$TMP/vge-$name"; mkdir -p "$d"
  VG_EXIT_LOG="$d/log"
  echo | valgrind --leak-check=full --show-leak-kinds=all --num-callers=64 --log-file="$d/log" "$@" >/dev/null 2>&1 || true
  local def ind pos
  def=$(vg_blocks "$d/log" definitely); ind=$(vg_blocks "$d/log" indirectly)
  pos=$(vg_blocks "$d/log" possibly)
  echo "$((def + ind)) $pos"
}

# heapscope run to exit: leaked, possible.
hs_run() {
  local name=$1; shift
  local d="$TMP/hsr-$name"; mkdir -p "$d"
  HS_RUN_JSON="$d/leaks.json"
  echo | "$HS" run -o "$d/leaks.json" --depth 64 --quiet -- "$@" >/dev/null 2>&1 || true
  jq -r '"\(.summary.leaked) \(.summary.possible // 0)"' "$d/leaks.json"
}

ROWS=()
row() { # name vg_attach hs_attach vg_exit hs_run [sites differing]
  local name=$1 sites=${6:--}
  read -r va vap <<<"$2"; read -r ha hap ht <<<"$3"; read -r ve vep <<<"$4"; read -r hr hrp <<<"$5"
  local fa=$((ha - va - vap)); ((fa > 0)) || fa=0
  local fr=$((hr - ve - vep)); ((fr > 0)) || fr=0
  local pct=100 pctp=100
  ((va > 0)) && pct=$((100 * (ha < va ? ha : va) / va))
  ((va > 0)) && pctp=$((100 * (ha + hap < va ? ha + hap : va) / va))
  printf '| %-22s | %6s (%s) | %6s (%s) %3s%% / %3s%% | %6s (%s) | %6s (%s) | %s / %s | %s | %ss |\n' \
    "$name" "$va" "$vap" "$ha" "$hap" "$pct" "$pctp" "$ve" "$vep" "$hr" "$hrp" "$fa" "$fr" "$sites" "$ht"
  ROWS+=("{\"program\":\"$name\",\"valgrindAttach\":$va,\"valgrindAttachPossible\":$vap,\"heapscopeAttach\":$ha,\"heapscopeAttachPossible\":$hap,\"valgrindExit\":$ve,\"valgrindExitPossible\":$vep,\"heapscopeRun\":$hr,\"heapscopeRunPossible\":$hrp,\"falsePositivesAttach\":$fa,\"falsePositivesRun\":$fr,\"sitesDiffering\":\"$sites\",\"heapscopeSeconds\":$ht}")
}

# Sites whose leaked counts differ between valgrind's exit log and heapscope run's leaks.json.
sites_differing() { # source files…
  "$ROOT/node_modules/.bin/deno" run -A "$ROOT/bench/valgrind_compare.ts" "$VG_EXIT_LOG" \
    "$HS_RUN_JSON" "$@" >"$TMP/compare.txt" 2>&1 || true
  grep -o '[0-9]* site(s) differ' "$TMP/compare.txt" | grep -o '^[0-9]*' || echo "?"
}

program() { # name sources command...
  local name=$1 sources=$2; shift 2
  local va ha ve hr
  va=$(vg_attach "$name" "$@"); ha=$(hs_attach "$name" "$@")
  vg_exit "$name" "$@" >"$TMP/ve"; hs_run "$name" "$@" >"$TMP/hr"
  ve=$(cat "$TMP/ve"); hr=$(cat "$TMP/hr")
  VG_EXIT_LOG="$TMP/vge-$name/log"; HS_RUN_JSON="$TMP/hsr-$name/leaks.json"
  # shellcheck disable=SC2086
  row "$name" "$va" "$ha" "$ve" "$hr" "$(sites_differing $sources)"
}

echo "| program                | valgrind attach | heapscope attach: leaked (possible) % / +possible % | valgrind exit | heapscope run | false+ attach/run | sites ≠ (run) | heapscope time |"
echo "|---|---|---|---|---|---|---|---|"
program "C++ sessions" sessions.cpp "$OUT/sessions"
program "libxml2 xmldocs" xmldocs.c "$OUT/xmldocs"
if ((!FAST)); then
  program "sqlite3 connections" connections.c "$OUT/connections"
  program "Rust graph" graph.rs "$OUT/graph"
  program "C++ containers" containers.cpp "$OUT/containers"
  # GLib's objects each their own malloc block (as valgrind's runs of GLib always are: GLib
  # switches its slices to malloc under valgrind), then in its slabs, as a program runs by default:
  # there valgrind's columns are still its always-malloc run's, and heapscope sees the entries,
  # not what lies in the slabs.
  G_SLICE=always-malloc program "GLib gcache" gcache.c "$OUT/gcache"
  program "GLib gcache (slices)" gcache.c "$OUT/gcache"
  # Debian's python3 itself (a version manager's shim would be a shell script valgrind cannot follow)
  program "python3 + ctypes" ctypes_leak.py /usr/bin/python3 "$SRC/ctypes_leak.py"
  source bench/real_programs_servers.sh
  server_rows
fi
if [[ -n "$JSON" ]]; then
  (IFS=,; echo "[${ROWS[*]}]") | jq . >"$JSON"
fi
