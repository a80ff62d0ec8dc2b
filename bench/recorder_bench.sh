#!/usr/bin/env bash
# Recorder overhead vs heaptrack on the same workload in the same run: bench/alloc_heavy.c does
# PAIRS malloc/free pairs over THREADS threads. Prints wall times, slowdowns, the ratio
# ours/heaptrack, ns per malloc+free pair, what the fill of new blocks costs (the recorder with and
# without HEAPSCOPE_FILL=0), and the recorder's memory per live block (RSS with LIVE blocks kept
# live minus RSS without, divided by LIVE, minus the same difference without recorder).
#
# Usage: bench/recorder_bench.sh [pairs=10000000] [threads=4] [live=1000000]
# Run it under the shared lock on shared machines: flock /tmp/heapscope-heavy.lock bench/recorder_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-10000000}
THREADS=${2:-4}
LIVE=${3:-1000000}
make -s recorder build/alloc_heavy
REC=$PWD/build/librecorder.so
PROG=$PWD/build/alloc_heavy
if ! command -v heaptrack >/dev/null; then
  echo "heaptrack missing: apt-get install -y heaptrack" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Wall time (seconds) of one run of "$@".
wall() {
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
# Best of 3 per configuration, the configurations taking turns round by round: on a shared machine
# a burst of load then hits every configuration alike instead of one of them.
declare -A best
configs=(base ours ours_nofill ours_fp ht)
run_config() {
  case $1 in
  base) wall "$PROG" "$PAIRS" "$THREADS" ;;
  ours) wall env LD_PRELOAD="$REC" "$PROG" "$PAIRS" "$THREADS" ;;
  ours_nofill) wall env LD_PRELOAD="$REC" HEAPSCOPE_FILL=0 "$PROG" "$PAIRS" "$THREADS" ;;
  ours_fp) wall env LD_PRELOAD="$REC" HEAPSCOPE_UNWIND=fp "$PROG" "$PAIRS" "$THREADS" ;;
  ht) wall heaptrack -o "$tmp/ht" "$PROG" "$PAIRS" "$THREADS" ;;
  esac
}
for _ in 1 2 3; do
  for c in "${configs[@]}"; do
    t=$(run_config "$c")
    if [[ -z ${best[$c]:-} ]] || (($(echo "$t < ${best[$c]}" | bc -l))); then best[$c]=$t; fi
  done
done
base=${best[base]} ours=${best[ours]} ours_nofill=${best[ours_nofill]} ours_fp=${best[ours_fp]}
ht=${best[ht]}

# Max RSS in KB.
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
r0=$(rss "$PROG" 0 1 0)
r1=$(rss "$PROG" 0 1 "$LIVE")
q0=$(rss env LD_PRELOAD="$REC" "$PROG" 0 1 0)
q1=$(rss env LD_PRELOAD="$REC" "$PROG" 0 1 "$LIVE")

awk -v p="$PAIRS" -v t="$THREADS" -v b="$base" -v o="$ours" -v n="$ours_nofill" -v f="$ours_fp" \
  -v h="$ht" -v r0="$r0" -v r1="$r1" -v q0="$q0" -v q1="$q1" -v live="$LIVE" 'BEGIN {
  printf "workload: %d malloc/free pairs on %d threads (bench/alloc_heavy.c), best of 3\n", p, t
  printf "%-32s %8.2f s\n", "baseline", b
  printf "%-32s %8.2f s  slowdown %6.1fx  +%5.0f ns/pair\n", "heapscope recorder", o, o/b, (o-b)*1e9/p
  printf "%-32s %8.2f s  slowdown %6.1fx  +%5.0f ns/pair\n", "heapscope recorder, no fill", n, n/b, (n-b)*1e9/p
  printf "%-32s %8.2f s  slowdown %6.1fx  +%5.0f ns/pair\n", "heapscope recorder (fp)", f, f/b, (f-b)*1e9/p
  printf "%-32s %8.2f s  slowdown %6.1fx  +%5.0f ns/pair\n", "heaptrack", h, h/b, (h-b)*1e9/p
  printf "fill: %+.0f ns/pair, %+.1f%% on the recorder without it\n", (o-n)*1e9/p, (o/n-1)*100
  printf "ratio ours/heaptrack (slowdown): %.2f\n", (o/b)/(h/b)
  printf "memory per live block: %.1f bytes (RSS +%d KB for %d live 32-byte blocks, baseline +%d KB)\n",
    ((q1-q0)-(r1-r0))*1024/live, q1-q0, live, r1-r0
}'
