// Tests of the ground truth itself: the LD_PRELOAD interposer (build/libtruth.so) on a 3-thread C
// program, python3 and perl, and victim/leaky's promises (expected blocks live, no stale roots).

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { parseExpectation, startVictim } from "./expect.ts";
import { dumpTruth, startWithTruth } from "./truth.ts";

// A program that mallocs/frees a fixed pattern with every interposed entry point from 3 threads,
// then prints what it believes is live ("LIVE 0xADDR SIZE") and blocks until stdin closes.
const PATTERN_C = String.raw`
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#define T 3
#define N 400
struct live { void *p; size_t n; };
static struct live lives[T][N];
static pthread_barrier_t start_b, done_b, exit_b;
static unsigned rnd(unsigned *s) { *s = *s * 1103515245u + 12345u; return *s >> 8; }
static void *worker(void *arg) {
  int t = (int)(long)arg;
  unsigned seed = 1234 + t;
  struct live *L = lives[t];
  pthread_barrier_wait(&start_b);
  for (int i = 0; i < N; i++) {
    size_t n = 1 + rnd(&seed) % 2000;
    if (i % 50 == 7) n = 150000 + rnd(&seed) % 100000; /* mmapped chunks */
    void *p = NULL;
    switch (i % 9) {
    case 0: p = malloc(n); break;
    case 1: p = calloc(3, n); n *= 3; break;
    case 2: p = realloc(NULL, n); break;
    case 3: if (posix_memalign(&p, 64, n)) p = NULL; break;
    case 4: p = aligned_alloc(32, n); break;
    case 5: p = memalign(128, n); break;
    case 6: p = valloc(n); break;
    case 7: p = reallocarray(NULL, n, 2); n *= 2; break;
    case 8: p = pvalloc(n); break;
    }
    if (!p) abort();
    L[i].p = p; L[i].n = n;
  }
  for (int i = 0; i < N; i++) {
    unsigned r = rnd(&seed) % 6;
    if (r == 0) { free(L[i].p); L[i].p = NULL; }
    else if (r == 1) {
      size_t n = 1 + rnd(&seed) % 4000;
      void *q = realloc(L[i].p, n);
      if (!q) abort();
      L[i].p = q; L[i].n = n;
    } else if (r == 2) {
      if (realloc(L[i].p, 0) != NULL) abort(); /* glibc: frees p, returns NULL */
      L[i].p = NULL;
    } else if (r == 3) {
      size_t k = 2 + rnd(&seed) % 5;
      void *q = reallocarray(L[i].p, k, 100);
      if (!q) abort();
      L[i].p = q; L[i].n = k * 100;
    }
  }
  free(NULL);
  if (realloc(L[0].p, (size_t)-1 / 2) != NULL) abort(); /* failed realloc keeps the block */
  pthread_barrier_wait(&done_b);
  pthread_barrier_wait(&exit_b);
  return NULL;
}
int main(void) {
  pthread_t th[T];
  pthread_barrier_init(&start_b, NULL, T + 1);
  pthread_barrier_init(&done_b, NULL, T + 1);
  pthread_barrier_init(&exit_b, NULL, T + 1);
  for (long t = 0; t < T; t++) pthread_create(&th[t], NULL, worker, (void *)t);
  printf("BASELINE\n");
  fflush(stdout);
  char c;
  if (read(0, &c, 1) != 1) return 3;
  pthread_barrier_wait(&start_b);
  pthread_barrier_wait(&done_b);
  for (int t = 0; t < T; t++)
    for (int i = 0; i < N; i++)
      if (lives[t][i].p) printf("LIVE %p %zu\n", lives[t][i].p, lives[t][i].n);
  printf("READY\n");
  fflush(stdout);
  while (read(0, &c, 1) > 0) {}
  pthread_barrier_wait(&exit_b);
  for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
  return 0;
}
`;

async function compile(source: string): Promise<{ exe: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-truth-test-" });
  await Deno.writeTextFile(`${dir}/prog.c`, source);
  const out = await new Deno.Command("cc", {
    args: ["-O1", "-g", "-Wall", "-std=gnu11", "-pthread", "-o", `${dir}/prog`, `${dir}/prog.c`],
    stderr: "piped",
  }).output();
  assert(out.success, `cc failed: ${new TextDecoder().decode(out.stderr)}`);
  return { exe: `${dir}/prog`, dir };
}

function hex(a: number): string {
  return `0x${a.toString(16)}`;
}

Deno.test("libtruth.so records exactly the live set of a 3-thread malloc/free pattern", async () => {
  const { exe, dir } = await compile(PATTERN_C);
  await using proc = startWithTruth([exe]);
  try {
    await proc.waitForLine((l) => l === "BASELINE");
    const baseline = await dumpTruth(proc.pid);
    assert(baseline.size > 0, "the baseline holds at least stdout's buffer and the thread DTVs");
    await proc.writeStdin("g");
    const lines = await proc.waitForLine((l) => l === "READY");
    const printed = new Map<number, number>();
    for (const l of lines) {
      const m = l.match(/^LIVE 0x([0-9a-f]+) (\d+)$/);
      if (m) printed.set(parseInt(m[1]!, 16), Number(m[2]));
    }
    assert(printed.size > 3 * 400 / 3, `too few live blocks printed: ${printed.size}`);
    const after = await dumpTruth(proc.pid);

    const expected = new Map(baseline);
    for (const [a, n] of printed) {
      assert(!baseline.has(a), `${hex(a)} was live before the pattern started`);
      expected.set(a, n);
    }
    const missing = [...expected].filter(([a, n]) => after.get(a) !== n);
    const extra = [...after].filter(([a]) => !expected.has(a));
    assertEquals(missing.map(([a, n]) => `${hex(a)} ${n} (truth: ${after.get(a)})`), []);
    assertEquals(extra.map(([a, n]) => `${hex(a)} ${n}`), []);
    assertEquals(after.size, baseline.size + printed.size);
    assertEquals(await dumpTruth(proc.pid), after, "a blocked process dumps the same set twice");

    await proc.closeStdin();
    const status = await proc.wait();
    assertEquals(status.code, 0, "the program exits normally under the interposer");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function assertSane(truth: Map<number, number>, what: string): void {
  assert(truth.size > 100, `${what}: only ${truth.size} live blocks`);
  for (const a of truth.keys()) assert(a % 16 === 0, `${what}: ${hex(a)} is not 16-aligned`);
}

Deno.test("libtruth.so under python3 with threads: a sane live set, and python still works", async () => {
  const script = `
import ctypes, sys, threading
keep = []
def work(k):
    for i in range(3000):
        keep.append({"k": k, "i": i, "s": "x" * (i % 700)})
threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
big = bytearray(1_000_000)
print(ctypes.addressof((ctypes.c_char * len(big)).from_buffer(big)), flush=True)
print("READY", flush=True)
sys.stdin.readline()
print(len(keep), flush=True)
`;
  await using proc = startWithTruth(["python3", "-c", script]);
  const lines = await proc.waitForLine((l) => l === "READY", 30_000);
  const bigAddress = Number(lines[0]);
  const truth = await dumpTruth(proc.pid);
  assertSane(truth, "python3");
  const size = truth.get(bigAddress);
  assert(size !== undefined && size >= 1_000_000, `bytearray buffer ${hex(bigAddress)}: ${size}`);
  await proc.writeStdin("quit\n");
  assertEquals(await proc.readLine(), "12000");
  assertEquals((await proc.wait()).code, 0);
});

Deno.test("libtruth.so under perl: a sane live set, and perl still works", async () => {
  const script = `
$| = 1;
my %h;
$h{"key$_"} = "v" x ($_ % 100) for 1 .. 20000;
my $s = "x" x 100000;
print unpack("J", pack("p", $s)), "\\n";
print "READY\\n";
<STDIN>;
print scalar(keys %h), "\\n";
exit 0;
`;
  await using proc = startWithTruth(["perl", "-e", script]);
  const lines = await proc.waitForLine((l) => l === "READY", 30_000);
  const strAddress = Number(lines[0]);
  const truth = await dumpTruth(proc.pid);
  assertSane(truth, "perl");
  const size = truth.get(strAddress);
  assert(size !== undefined && size >= 100_001, `string buffer ${hex(strAddress)}: ${size}`);
  await proc.writeStdin("quit\n");
  assertEquals(await proc.readLine(), "20000");
  assertEquals((await proc.wait()).code, 0);
});

Deno.test("victim/leaky under libtruth.so: every expected block is live with its size, freed ones are not", async () => {
  const { proc, expect } = await startVictim({ truth: true, args: ["--blocks", "100"] });
  await using _ = proc;
  assertEquals(expect.pid, proc.pid);
  const truth = await dumpTruth(proc.pid);
  for (const b of [...expect.reachable, ...expect.leaked]) {
    assertEquals(truth.get(b.address), b.size, `${b.label} at ${hex(b.address)}`);
  }
  for (const b of expect.freed) assert(!truth.has(b.address), `freed ${hex(b.address)} is live`);
  assertEquals(truth.get(expect.load.array), expect.load.arraySize, "the --blocks array");
  // 12 leaked, 12 reachable (11 without the x86_64-only register shape); 7 direct leaks.
  assertEquals(expect.leaked.length, 12);
  assertEquals(expect.leaked.filter((b) => b.leak === "direct").length, 7);
  assertEquals(expect.cycles.length, 2);
  assert(expect.reachable.some((b) => b.zone === "thread-arena"), "a block in a thread arena");
  assert(expect.leaked.some((b) => b.zone === "thread-arena"), "a leak in a thread arena");
  assert(expect.leaked.some((b) => b.zone === "mmap"), "an mmapped leak");
  assertEquals(expect.freed.filter((b) => b.bin === "fastbin").length, 2);
});

interface Region {
  start: number;
  end: number;
  perms: string;
  path: string;
}

async function writableRegions(pid: number): Promise<Region[]> {
  const maps = await Deno.readTextFile(`/proc/${pid}/maps`);
  return maps.trim().split("\n").map((line) => {
    const [range, perms, , , , path] = line.split(/\s+/);
    const [s, e] = range!.split("-");
    return { start: parseInt(s!, 16), end: parseInt(e!, 16), perms: perms!, path: path ?? "" };
  }).filter((r) => r.perms.startsWith("rw"));
}

/** Every aligned word of the process's writable memory that points into one of `blocks`. */
async function findReferences(
  pid: number,
  blocks: { address: number; size: number; label: string }[],
): Promise<{ at: number; to: string; region: string }[]> {
  const sorted = [...blocks].sort((a, b) => a.address - b.address);
  const owner = (v: number) => {
    let lo = 0, hi = sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = sorted[mid]!;
      if (v < b.address) hi = mid - 1;
      else if (v >= b.address + b.size) lo = mid + 1;
      else return b;
    }
    return undefined;
  };
  const his = new Set(sorted.map((b) => Math.floor(b.address / 2 ** 32)));
  const found: { at: number; to: string; region: string }[] = [];
  using mem = await Deno.open(`/proc/${pid}/mem`);
  for (const r of await writableRegions(pid)) {
    const bytes = new Uint8Array(r.end - r.start);
    await mem.seek(r.start, Deno.SeekMode.Start);
    let off = 0;
    try {
      while (off < bytes.length) {
        const n = await mem.read(bytes.subarray(off));
        if (n === null || n === 0) break;
        off += n;
      }
    } catch {
      continue; // e.g. a guard page
    }
    const words = new Uint32Array(bytes.buffer, 0, off >> 2);
    for (let i = 0; i + 1 < words.length; i += 2) {
      const hi = words[i + 1]!;
      if (!his.has(hi)) continue;
      const b = owner(hi * 2 ** 32 + words[i]!);
      if (b) found.push({ at: r.start + i * 4, to: b.label, region: r.path || "anon" });
    }
  }
  return found;
}

for (const truth of [false, true]) {
  Deno.test(`victim/leaky${truth ? " under libtruth.so" : ""}: leaked blocks are referenced only by leaked blocks`, async () => {
    const { proc, expect } = await startVictim({ truth });
    await using _ = proc;
    await new Promise((r) => setTimeout(r, 100));
    const leaked = expect.leaked;
    const inLeaked = (a: number) => leaked.find((b) => a >= b.address && a < b.address + b.size);
    const refs = await findReferences(proc.pid, leaked);
    const edges = refs.map((r) =>
      `${inLeaked(r.at)?.label ?? `${r.region} ${hex(r.at)}`} -> ${r.to}`
    );
    assertEquals(edges.sort(), [
      "2-cycle member a -> 2-cycle member b",
      "2-cycle member b -> 2-cycle member a",
      "cycle tail t1 -> cycle tail t2",
      "orphan parent -> child of orphan parent",
      "tailed cycle member c1 -> tailed cycle member c2",
      "tailed cycle member c2 -> cycle tail t1",
      "tailed cycle member c2 -> tailed cycle member c1",
    ]);
    // The register-only block must not be anywhere in memory either.
    const regOnly = expect.reachable.filter((b) => b.via === "register");
    assertEquals(await findReferences(proc.pid, regOnly), []);
  });
}

Deno.test("parseExpectation() rejects output without an expect line", () => {
  assertThrows(() => parseExpectation(['{"pid":1}', "READY"]), /no \{"expect"/);
});

const FORK_C = String.raw`
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile int stop;
static void *churn(void *arg) {
  (void)arg;
  while (!stop) free(malloc(64 + (size_t)(rand() % 512)));
  return NULL;
}
int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, churn, NULL);
  for (int i = 0; i < 300; i++) {
    pid_t pid = fork();
    if (pid == 0) { free(malloc(100)); _exit(0); }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
  }
  stop = 1;
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  printf("forked\n");
  return 0;
}
`;

Deno.test("libtruth.so: fork() from a process whose threads keep allocating works in parent and child", async () => {
  const { exe, dir } = await compile(FORK_C);
  try {
    await using proc = startWithTruth([exe], { stdin: "null" });
    assertEquals(await proc.readLine(20_000), "forked");
    assertEquals((await proc.wait()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
