#!/usr/bin/env bash
# Soak: heapscope against busy, hostile and odd targets; counts false leaks and harmed targets.
#
#   flock /tmp/heapscope-heavy.lock bash bench/soak.sh [--captures K] [--kills K] [--out DIR]
#                                                      [--only "churn python threads kills sparse"]
#
# Targets (built into DIR from the C below; every one is killed on every exit path):
#   churn     8 threads malloc/free/realloc 16 B–200 KB (tcache, fastbins, small and large bins and
#             mmapped chunks all churn); worker threads exit after a random number of operations
#             (freeing everything first) and new ones start; 1000 blocks kept from main.
#   python    python3 with 8 threads building and dropping dicts, lists and bytes, threads exiting
#             and starting.
#   threads   500 threads, each holding 8 blocks and replacing one every 50–150 ms.
#   sparse    a 4 GiB malloc and a 64 GiB MAP_NORESERVE mapping, one page written in each.
# Every block the churn and threads programs allocate stays reachable (slots, the stack, a
# register right after malloc), so every leak reported there is false; python's are compared with
# an idle python's, and the sparse program has exactly one leak (a dropped 300 B block).
# Phases: K captures (default 30) of churn and python and 5 of threads with `./heapscope PID`
# (leaked blocks per capture, pause, warnings); K kills (default 48: SIGKILL, SIGTERM, SIGINT in
# turn; every other one aimed at the pause) of `./heapscope PID` at random moments of its run
# against churn (the target must stay
# alive, not stopped, untraced, with every thread still running); the sparse program captured
# (its RSS before and after, the time). Results: DIR/soak.md and DIR/soak.jsonl (default DIR:
# build/soak), one line per capture or kill.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

CAPTURES=30
KILLS=48
OUT=build/soak
ONLY="churn python threads kills sparse"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --captures) CAPTURES="$2"; shift ;;
    --kills) KILLS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    *) echo "soak: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -f build/libheapscope.so ]] || { echo "soak: missing build/libheapscope.so: run 'make'" >&2; exit 2; }
mkdir -p "$OUT"
: > "$OUT/soak.jsonl"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[soak] $*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

cat > "$OUT/churn.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define WORKERS 8
#define SLOTS 64
#define KEEP 1000
void *kept[KEEP];
struct worker { void *slot[SLOTS]; unsigned seed; volatile int done; pthread_t tid; };
struct worker workers[WORKERS];
static size_t pick(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  unsigned r = *s >> 8, b = r % 100;
  if (b < 60) return 16 + r % 113;          /* tcache and fastbins */
  if (b < 85) return 128 + r % 897;         /* small bins */
  if (b < 95) return 1024 + r % 64513;      /* large bins */
  return (128 << 10) + r % (72 << 10);      /* mmapped: 128–200 KB */
}
static void *work(void *arg) {
  struct worker *w = arg;
  unsigned s = w->seed;
  long ops = 20000 + (long)(s % 200000);
  for (long n = 0; n < ops; n++) {
    s = s * 1103515245u + 12345u;
    unsigned i = (s >> 16) % SLOTS;
    size_t size = pick(&s);
    if (s & 0x10) {
      void *p = realloc(w->slot[i], size);
      if (p) { memset(p, 1, size < 64 ? size : 64); w->slot[i] = p; }
    } else {
      free(w->slot[i]);
      w->slot[i] = malloc(size);
      if (w->slot[i]) memset(w->slot[i], 2, size < 64 ? size : 64);
    }
  }
  for (int i = 0; i < SLOTS; i++) { free(w->slot[i]); w->slot[i] = 0; }
  w->done = 1;
  return 0;
}
int main(void) {
  for (int i = 0; i < KEEP; i++) kept[i] = malloc(24 + (i % 40) * 24);
  unsigned seed = 1;
  for (int i = 0; i < WORKERS; i++) {
    workers[i].seed = seed += 7919;
    pthread_create(&workers[i].tid, 0, work, &workers[i]);
  }
  printf("READY\n");
  fflush(stdout);
  for (;;) {
    for (int i = 0; i < WORKERS; i++) {
      if (!workers[i].done) continue;
      pthread_join(workers[i].tid, 0);
      workers[i].done = 0;
      workers[i].seed = seed += 7919;
      pthread_create(&workers[i].tid, 0, work, &workers[i]);
    }
    usleep(1000);
  }
}
EOF

cat > "$OUT/threads.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#define THREADS 500
static pthread_barrier_t ready;
static void *hold(void *arg) {
  unsigned s = (unsigned)(long)arg;
  void *volatile slot[8];
  for (int i = 0; i < 8; i++) slot[i] = malloc(16 + (s + i) % 600);
  pthread_barrier_wait(&ready);
  for (;;) {
    usleep(50000 + s % 100000); /* 500 threads waking every 2 ms would load 2 cores alone */
    s = s * 1103515245u + 12345u;
    int i = (s >> 16) % 8;
    free(slot[i]);
    slot[i] = malloc(16 + (s >> 8) % 600);
  }
  return 0;
}
int main(void) {
  pthread_barrier_init(&ready, 0, THREADS + 1);
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 128 << 10);
  for (long i = 0; i < THREADS; i++) {
    pthread_t t;
    if (pthread_create(&t, &a, hold, (void *)(i + 1)) != 0) return 1;
  }
  pthread_barrier_wait(&ready);
  printf("READY\n");
  fflush(stdout);
  for (;;) pause();
}
EOF

cat > "$OUT/sparse.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
char *volatile big; /* a global root: the 4 GiB block is reachable, and through it the 100 B one */
int main(void) {
  big = malloc(4UL << 30);
  if (!big) return 1;
  *(void **)(big + (2UL << 30)) = malloc(100);
  char *huge = mmap(0, 64UL << 30, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (huge == MAP_FAILED) return 1;
  *(void **)(huge + (40UL << 30)) = malloc(200);
  void *volatile lost = malloc(300);
  lost = 0;
  printf("READY\n");
  fflush(stdout);
  for (;;) pause();
}
EOF

cat > "$OUT/python_churn.py" <<'EOF'
import random, sys, threading, time
keep = [bytearray(1000) for _ in range(2000)]
def work(seed):
    r = random.Random(seed)
    held = []
    for _ in range(r.randrange(2000, 20000)):
        k = r.random()
        if k < 0.4:
            held.append({i: str(i) * r.randrange(1, 40) for i in range(r.randrange(1, 30))})
        elif k < 0.7:
            held.append(bytes(r.randrange(16, 200_000)))
        else:
            held.append([r.random() for _ in range(r.randrange(1, 200))])
        if len(held) > 64:
            held.pop(r.randrange(len(held)))
seed = 0
threads = []
for _ in range(8):
    seed += 1
    t = threading.Thread(target=work, args=(seed,)); t.start(); threads.append(t)
print("READY", flush=True)
while True:
    for i, t in enumerate(threads):
        if not t.is_alive():
            seed += 1
            threads[i] = threading.Thread(target=work, args=(seed,)); threads[i].start()
    time.sleep(0.005)
EOF

for p in churn threads sparse; do
  cc -O1 -g -pthread -o "$OUT/$p" "$OUT/$p.c"
done

# start NAME CMD...: run CMD with stdout to DIR/NAME.out, wait for its READY line; sets TP.
start() {
  local name=$1
  shift
  "$@" > "$OUT/$name.out" 2>&1 &
  TP=$!
  PIDS+=("$TP")
  local i=0
  while ! grep -q '^READY' "$OUT/$name.out" 2>/dev/null; do
    kill -0 "$TP" 2>/dev/null || { log "$name died"; exit 1; }
    (( i++ < 600 )) || { log "$name not READY after 60 s"; exit 1; }
    sleep 0.1
  done
}

# unharmed PID [busy]: alive, no thread stopped or traced, and with "busy" its main thread (a
# loop that wakes every millisecond) still gets CPU time. Prints "ok" or what is wrong.
unharmed() {
  local pid=$1 busy=${2:-} st
  st=$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo gone)
  [[ $st == [SR] ]] || { echo "process $st"; return; }
  # One awk over every thread's status (500 threads: one process, not 1000).
  local bad
  bad=$(awk '/^State:/ && $2 ~ /[tT]/ {print FILENAME " is " $2; exit}
             /^TracerPid:/ && $2 != 0 {print FILENAME " traced by " $2; exit}' \
        /proc/"$pid"/task/*/status 2>/dev/null || true)
  [[ -z $bad ]] || { echo "$bad"; return; }
  if [[ -n $busy ]]; then
    local before after
    before=$(awk '{print $1}' "/proc/$pid/schedstat")
    sleep 0.3
    after=$(awk '{print $1}' "/proc/$pid/schedstat")
    (( after > before )) || { echo "main thread does not run"; return; }
  fi
  echo ok
}

# capture NAME PID I: one `./heapscope PID`; appends its line to soak.jsonl.
capture() {
  local name=$1 pid=$2 i=$3 t0 rc=0
  t0=$(now_ms)
  ./heapscope "$pid" --output "$OUT/$name.json" --quiet 2> "$OUT/$name.err" || rc=$?
  local wall=$(( $(now_ms) - t0 ))
  if [[ $rc -gt 1 ]]; then
    jq -cn --arg t "$name" --argjson i "$i" --argjson rc "$rc" --arg err "$(head -c 500 "$OUT/$name.err")" \
      '{target: $t, capture: $i, exit: $rc, error: $err}' >> "$OUT/soak.jsonl"
    return
  fi
  head -c 65536 "$OUT/$name.json" | python3 -c '
import json, sys
text = sys.stdin.read()
head = json.loads(text[: text.index(",\"nodes\":")] + "}")
print(json.dumps({"target": sys.argv[1], "capture": int(sys.argv[2]), "wallMs": int(sys.argv[3]),
  "pauseMs": round(head["pauseMs"], 1), "allocations": head["summary"]["allocations"],
  "leaked": head["summary"]["leaked"], "leakedBytes": head["summary"]["leakedBytes"],
  "warnings": [w for w in head.get("warnings", []) if "inside" in w or "corrupt" in w][:5]}))' \
    "$name" "$i" "$wall" >> "$OUT/soak.jsonl"
  local state
  state=$(unharmed "$pid" "$([[ $name == churn ]] && echo busy)")
  [[ $state == ok ]] || { log "$name harmed after capture $i: $state"; exit 1; }
}

want() { [[ " $ONLY " == *" $1 "* ]]; }

start churn "$OUT/churn"
CHURN=$TP
if want churn; then
  log "churn: $CAPTURES captures"
  for i in $(seq 1 "$CAPTURES"); do capture churn "$CHURN" "$i"; done
fi

if want python; then
log "python: $CAPTURES captures (and 3 of an idle python for comparison)"
start python python3 "$OUT/python_churn.py"
PY=$TP
for i in $(seq 1 "$CAPTURES"); do capture python "$PY" "$i"; done
kill -KILL "$PY"; wait "$PY" 2>/dev/null || true
start python-idle python3 -c 'import time; keep = [bytearray(1000) for _ in range(2000)]; print("READY", flush=True); time.sleep(600)'
for i in 1 2 3; do capture python-idle "$TP" "$i"; done
kill -KILL "$TP"; wait "$TP" 2>/dev/null || true
fi

if want threads; then
log "threads: 5 captures of 500 threads"
start threads "$OUT/threads"
for i in 1 2 3 4 5; do capture threads "$TP" "$i"; done
kill -KILL "$TP"; wait "$TP" 2>/dev/null || true
fi

if want kills; then
log "kills: $KILLS signals to heapscope at random moments (SIGKILL, SIGTERM, SIGINT)"
SIGS=(KILL TERM INT)
# How long one run takes here, to spread the kills over it.
t0=$(now_ms)
./heapscope "$CHURN" --output /dev/null --quiet 2>/dev/null || true
RUN_MS=$(( $(now_ms) - t0 ))
for i in $(seq 1 "$KILLS"); do
  sig=${SIGS[$(( (i - 1) % 3 ))]}
  delay=$(( RANDOM % RUN_MS ))
  # A background job of a script starts with SIGINT ignored: give heapscope the default back.
  env --default-signal=INT ./heapscope "$CHURN" --output "$OUT/kill.json" --quiet 2>/dev/null &
  HS=$!
  if (( i % 2 == 0 )); then
    # Every other kill aims at the pause: once heapscope has the target, 0–150 ms later.
    delay=$(( RANDOM % 150 ))
    for _ in $(seq 1 2000); do
      [[ $(awk '/^TracerPid:/{print $2}' "/proc/$CHURN/status") != 0 ]] && break
      kill -0 "$HS" 2>/dev/null || break
      sleep 0.002
    done
  fi
  sleep "$(printf '%d.%03d' $(( delay / 1000 )) $(( delay % 1000 )))"
  # Whether the kill lands while heapscope holds the target (attached: in the pause).
  traced=$(awk '/^TracerPid:/{print ($2 != 0)}' "/proc/$CHURN/status")
  kill -s "$sig" "$HS" 2>/dev/null || true
  rc=0
  wait "$HS" 2>/dev/null || rc=$?
  sleep 0.2
  state=$(unharmed "$CHURN" busy)
  jq -cn --argjson i "$i" --arg sig "$sig" --argjson delay "$delay" --argjson rc "$rc" --arg state "$state" \
    --argjson traced "$traced" \
    '{target: "kill", kill: $i, signal: $sig, delayMs: $delay, exit: $rc, target_state: $state,
      inPause: ($traced == 1)}' \
    >> "$OUT/soak.jsonl"
  [[ $state == ok ]] || { log "kill $i (SIG$sig after $delay ms) harmed the target: $state"; exit 1; }
done
fi

if want sparse; then
log "sparse: 4 GiB malloc and 64 GiB NORESERVE mapping"
start sparse "$OUT/sparse"
for i in 1 2 3; do
  before=$(awk '/^VmRSS/{print $2}' "/proc/$TP/status")
  capture sparse "$TP" "$i"
  after=$(awk '/^VmRSS/{print $2}' "/proc/$TP/status")
  jq -cn --argjson i "$i" --argjson b "$before" --argjson a "$after" \
    '{target: "sparse-rss", capture: $i, rssBeforeKb: $b, rssAfterKb: $a}' >> "$OUT/soak.jsonl"
done
kill -KILL "$TP"; wait "$TP" 2>/dev/null || true
fi

python3 - "$OUT/soak.jsonl" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY' | tee "$OUT/soak.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"load average at the end: {sys.argv[2]}\n")
print("| target | captures | failed | leaked blocks per capture (min / median / max) | captures with leaks | pause median / max | wall median | warnings (inside malloc, corrupt) |")
print("|---|---|---|---|---|---|---|---|")
for t in ["churn", "python", "python-idle", "threads", "sparse"]:
    rs = [r for r in rows if r["target"] == t and "capture" in r]
    ok = [r for r in rs if "leaked" in r]
    if not rs:
        continue
    leaks = [r["leaked"] for r in ok] or [0]
    pauses = [r["pauseMs"] for r in ok] or [0]
    walls = [r["wallMs"] for r in ok] or [0]
    warned = sum(1 for r in ok if r["warnings"])
    print(f"| {t} | {len(rs)} | {len(rs) - len(ok)} | {min(leaks)} / {statistics.median(leaks)} / {max(leaks)} | "
          f"{sum(1 for x in leaks if x)} | {statistics.median(pauses):.0f} / {max(pauses):.0f} ms | "
          f"{statistics.median(walls):.0f} ms | {warned} |")
kills = [r for r in rows if r["target"] == "kill"]
by = {}
for r in kills:
    by.setdefault(r["signal"], []).append(r)
print(f"\nkills: {len(kills)} ({', '.join(f'SIG{s}: {len(v)}' for s, v in by.items())}), "
      f"{sum(1 for r in kills if r.get('inPause'))} while the target was attached (in the pause), "
      f"{sum(1 for r in kills if r['exit'] == 0)} after heapscope had finished; "
      f"targets harmed: {sum(1 for r in kills if r['target_state'] != 'ok')}")
rss = [r for r in rows if r["target"] == "sparse-rss"]
for r in rss:
    print(f"sparse capture {r['capture']}: target RSS {r['rssBeforeKb']} → {r['rssAfterKb']} kB")
PY
