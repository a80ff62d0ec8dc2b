// Captures of processes whose threads are always in malloc: a thread stopped inside the allocator
// (by its call chain, e.g. in mremap under realloc) runs alone until it is out, or the process is
// re-stopped; either way no block is a false leak.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { analyze, MemoryImage, STATUS_REACHABLE } from "../analysis/mod.ts";
import type { Snapshot } from "../analysis/types.ts";
import { captureSnapshot } from "./mod.ts";
import { kill, spawnDetached, until } from "../tests/procs.ts";

const CAPTURES = 20;
const KEEP = 2000;
const THREADS = 3;
/**
 * Captures (of CAPTURES) allowed to end with a thread still inside malloc (and say so) when threads
 * are let out alone. This loop spends nearly all its time in malloc; a capture takes 20–200 rounds
 * of a few ms to find every thread outside it on an idle machine. The product gives up after 2 s
 * (ALLOCATOR_MAX_MS); under outside load (another test run, a browser) 2 s held only 19 rounds,
 * so the tests give it ALLOCATOR_BUDGET_MS (`allocatorMaxMs`, a test hook) within a --timeout of
 * four times that. With re-stops only, three such threads are almost never all outside malloc at
 * one stop: that fallback is checked for its warning, not for clean captures.
 */
const MAY_EXHAUST = 1;
/** The tests' budget for letting threads out of malloc (ms), and their --timeout. */
const ALLOCATOR_BUDGET_MS = 10_000;
const TIMEOUT_MS = 4 * ALLOCATOR_BUDGET_MS;

// KEEP blocks kept in a global array for the whole run; THREADS threads churn malloc/free of
// random sizes (tcache, fastbin, small and large bins) through a stack array of 8 slots.
const CHURN = `
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define KEEP ${KEEP}
#define THREADS ${THREADS}
void *kept[KEEP];
static void *churn(void *arg) {
  unsigned s = (unsigned)(long)arg;
  void *volatile tmp[8] = {0};
  for (;;) {
    s = s * 1103515245u + 12345u;
    unsigned i = (s >> 16) & 7;
    free(tmp[i]);
    tmp[i] = malloc(16 + ((s >> 4) & 2047));
  }
  return 0;
}
int main(void) {
  for (int i = 0; i < KEEP; i++) { kept[i] = malloc(24 + (i % 50) * 16); memset(kept[i], 7, 8); }
  pthread_t t;
  for (long i = 0; i < THREADS; i++) pthread_create(&t, 0, churn, (void *)(i + 1));
  printf("READY %d %p\\n", KEEP, (void *)kept);
  fflush(stdout);
  for (;;) pause();
}
`;

// THREADS threads each keep one block in a global slot and realloc it between 200 KiB and 1 MiB:
// mmapped chunks, so realloc moves them with mremap (the window issue 11 item 4 is about: after
// the system call the chunk moved, the program's pointer is stale, only rax holds the new one).
const REALLOC = `
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define THREADS ${THREADS}
void *volatile slot[THREADS];
static void *grow(void *arg) {
  long t = (long)arg;
  unsigned s = (unsigned)t + 1;
  slot[t] = malloc(200 << 10);
  for (;;) {
    s = s * 1103515245u + 12345u;
    size_t size = (size_t)(200 + (s >> 16) % 824) << 10;
    void *p = realloc(slot[t], size);
    if (!p) abort();
    ((char *)p)[size - 1] = 1;
    slot[t] = p;
  }
  return 0;
}
int main(void) {
  pthread_t t;
  for (long i = 0; i < THREADS; i++) pthread_create(&t, 0, grow, (void *)i);
  printf("READY %p\\n", (void *)slot);
  fflush(stdout);
  for (;;) pause();
}
`;

/** Compile `source`, start it detached, wait for its READY line; returns the pid and that line. */
async function start(source: string, dir: string): Promise<{ pid: number; ready: string[] }> {
  const src = `${dir}/prog.c`, exe = `${dir}/prog`, out = `${dir}/out`;
  Deno.writeTextFileSync(src, source);
  const cc = await new Deno.Command("cc", { args: ["-O1", "-pthread", "-o", exe, src] }).output();
  assert(cc.success, new TextDecoder().decode(cc.stderr));
  const pid = await spawnDetached(`exec ${exe} >${out}`);
  const line = () => {
    try {
      return Deno.readTextFileSync(out).split("\n").find((l) => l.startsWith("READY"));
    } catch {
      return undefined;
    }
  };
  await until(() => line() !== undefined, 10_000, "the READY line");
  return { pid, ready: line()!.split(" ").slice(1) };
}

/** Leaked (not reachable) blocks of a snapshot, and a lookup from address to node. */
function leaks(snap: Snapshot) {
  const analysis = analyze(snap);
  const table = analysis.heap.allocations;
  const byAddress = new Map<number, number>();
  for (let i = 0; i < table.length; i++) byAddress.set(table.address(i), i);
  const leaked: string[] = [];
  for (let i = 0; i < analysis.status.length; i++) {
    if (analysis.status[i] !== STATUS_REACHABLE) {
      leaked.push(`0x${table.address(i).toString(16)} (${table.size(i)} B)`);
    }
  }
  return { analysis, byAddress, leaked, count: table.length };
}

function insideWarnings(snap: Snapshot): string[] {
  return snap.warnings.filter((w) => / was inside .* when the heap was copied/.test(w));
}

for (const noRunOut of [false, true]) {
  Deno.test({
    name: `captureSnapshot() of malloc-churning threads: ${CAPTURES} captures, no false leak` +
      (noRunOut ? " (re-stops only)" : " (threads let out of malloc alone)"),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = Deno.makeTempDirSync({ prefix: "heapscope-churn-" });
      const { pid, ready } = await start(CHURN, dir);
      try {
        assertEquals(Number(ready[0]), KEEP);
        const keptArray = parseInt(ready[1]!, 16);
        let exhausted = 0, retried = 0, ran = 0, rounds = 0, maxPause = 0;
        const pauses: number[] = [];
        for (let n = 0; n < CAPTURES; n++) {
          const snap = await captureSnapshot(pid, {
            timeoutMs: TIMEOUT_MS,
            test: { noRunOut, allocatorMaxMs: ALLOCATOR_BUDGET_MS },
          });
          const inside = insideWarnings(snap);
          if ((snap.allocatorRetries ?? 0) > 0) retried++;
          if ((snap.allocatorSteps ?? 0) > 0) ran++;
          rounds += snap.allocatorSteps ?? 0;
          if (noRunOut) assertEquals(snap.allocatorSteps, undefined, "no thread ran alone");
          // The warning appears only when the budget or the 20 re-stops ran out without every
          // thread outside malloc.
          if (inside.length > 0) {
            exhausted++;
            assert(
              (snap.allocatorRetries ?? 0) === 20 || snap.pauseMs >= ALLOCATOR_BUDGET_MS,
              `${inside.join("\n")} after ${snap.allocatorRetries} re-stops, ${snap.pauseMs} ms`,
            );
          }
          pauses.push(snap.pauseMs);
          maxPause = Math.max(maxPause, snap.pauseMs);
          // Every kept block is an allocation, and reachable; nothing else leaks either (the
          // churn's blocks are in its threads' stack arrays).
          const mem = new MemoryImage(snap.memory);
          const { analysis, byAddress, leaked, count } = leaks(snap);
          let missing = 0;
          for (let i = 0; i < KEEP; i++) {
            if (!byAddress.has(mem.u64(keptArray + 8 * i)!)) missing++;
          }
          const detail = `capture ${n}: ${snap.warnings.join("; ")} ${
            analysis.heap.warnings.join("; ")
          }`;
          if (inside.length === 0) {
            assertEquals(missing, 0, detail);
            assertEquals(leaked, [], detail);
          }
          // KEEP kept, up to 8 per churning thread, stdio's buffer and the tcache structs.
          assert(count >= KEEP && count <= KEEP + 8 * THREADS + 16, `${count} allocations`);
        }
        pauses.sort((a, b) => a - b);
        console.log(
          `${CAPTURES} captures: ${ran} let threads out of malloc alone (${rounds} rounds), ` +
            `${retried} re-stopped, ${exhausted} ended with a thread inside malloc; pause median ` +
            `${pauses[CAPTURES >> 1]!.toFixed(1)} ms, max ${maxPause.toFixed(1)} ms`,
        );
        if (!noRunOut) {
          assert(
            exhausted <= MAY_EXHAUST,
            `${exhausted} captures ended with a thread inside malloc`,
          );
        }
        // Three threads in a malloc/free loop: some stop always lands inside the allocator.
        if (noRunOut) assert(retried > 0, "no capture ever re-stopped");
        else assert(ran > 0, "no capture ever found a thread inside malloc");
        // Both paths stop trying at the budget; the copy itself takes ms.
        assert(maxPause < ALLOCATOR_BUDGET_MS + 1000, `pause ${maxPause} ms`);
      } finally {
        kill(pid);
        Deno.removeSync(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    `captureSnapshot() of threads reallocating big blocks (mremap): ${CAPTURES} captures, 0 false leaks`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "heapscope-realloc-" });
    const { pid } = await start(REALLOC, dir);
    try {
      let exhausted = 0, ran = 0;
      for (let n = 0; n < CAPTURES; n++) {
        const snap = await captureSnapshot(pid, {
          timeoutMs: TIMEOUT_MS,
          test: { allocatorMaxMs: ALLOCATOR_BUDGET_MS },
        });
        if ((snap.allocatorSteps ?? 0) > 0) ran++;
        const inside = insideWarnings(snap);
        if (inside.length > 0) exhausted++;
        const { analysis, leaked } = leaks(snap);
        const detail = `capture ${n}: ${snap.warnings.join("; ")}; ${analysis.heap.warnings}`;
        if (inside.length === 0) {
          // Each thread holds exactly one big block (in its slot, or only in a register right
          // after realloc returned), and nothing leaks.
          const table = analysis.heap.allocations;
          let big = 0;
          for (let i = 0; i < table.length; i++) if (table.size(i) >= 200 << 10) big++;
          assertEquals(big, THREADS, detail);
          assertEquals(leaked, [], detail);
          assertEquals(analysis.heap.warnings, [], detail);
        }
      }
      console.log(
        `${CAPTURES} captures: ${ran} let a thread out of realloc/mremap alone, ${exhausted} ` +
          `ended with a thread inside malloc`,
      );
      assert(exhausted <= MAY_EXHAUST, `${exhausted} captures ended with a thread inside malloc`);
      assert(ran > 0, "no capture ever caught a thread inside realloc");
    } finally {
      kill(pid);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
