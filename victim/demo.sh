#!/usr/bin/env bash
# make demo: start victim/leaky, analyse it with heapscope, say where the outputs are, stop the victim.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

out_dir="${DEMO_OUT:-$PWD}"
fifo_dir="$(mktemp -d)"
victim_pid=""
cleanup() {
  if [[ -n "$victim_pid" ]] && kill -0 "$victim_pid" 2>/dev/null; then
    kill -CONT "$victim_pid" 2>/dev/null || true # never leave it stopped
    kill -TERM "$victim_pid" 2>/dev/null || true
    wait "$victim_pid" 2>/dev/null || true
  fi
  rm -rf "$fifo_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x victim/leaky ]] || make --no-print-directory victim

victim/leaky >"$fifo_dir/victim.out" 2>"$fifo_dir/victim.err" &
victim_pid=$!

for _ in $(seq 1 100); do
  grep -qx READY "$fifo_dir/victim.out" 2>/dev/null && break
  kill -0 "$victim_pid" 2>/dev/null || { echo "demo: victim/leaky exited early" >&2; cat "$fifo_dir/victim.err" >&2; exit 1; }
  sleep 0.1
done
grep -qx READY "$fifo_dir/victim.out" || { echo "demo: victim/leaky did not print READY within 10 s" >&2; exit 1; }

echo "demo: victim/leaky is pid $victim_pid; it expects:"
python3 - "$fifo_dir/victim.out" <<'PY' || true
import json, sys
for line in open(sys.argv[1]):
    if line.startswith('{"expect"'):
        e = json.loads(line)["expect"]
        direct = sum(1 for b in e["leaked"] if b["leak"] == "direct")
        print(f"  {len(e['reachable'])} reachable, {len(e['leaked'])} leaked ({direct} direct, "
              f"{len(e['leaked']) - direct} indirect), {len(e['cycles'])} leaked cycles")
PY

status=0
rm -f "$out_dir/leaks.json" "$out_dir/report.html"
./heapscope "$victim_pid" --output "$out_dir/leaks.json" --html "$out_dir/report.html" || status=$?
# Exit status 1 means "leaks found", which is what the victim is for.
if [[ $status -ne 0 && $status -ne 1 ]]; then
  echo "demo: heapscope failed with exit status $status" >&2
  exit "$status"
fi
if [[ ! -s "$out_dir/leaks.json" ]]; then
  echo "demo: heapscope exited with status $status but wrote no $out_dir/leaks.json" >&2
  exit 3
fi
echo "demo: analysis: $out_dir/leaks.json"
echo "demo: report:   $out_dir/report.html"
