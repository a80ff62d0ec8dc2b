// Unit tests of walkTcache() and findTcaches() on tcache_perthread_structs laid out per glibc release.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { MemoryImage } from "../memory.ts";
import type { ThreadState } from "../types.ts";
import { layoutFor } from "./layout.ts";
import { protect } from "./safe_link.ts";
import { findTcaches, type FindTcachesInput, walkTcache } from "./tcache.ts";
import { FakeProcess } from "./testdata/fake_heap.ts";

const H = 0x555555559000;
const L36 = layoutFor("2.36").layout, L28 = layoutFor("2.28").layout;
const L42 = layoutFor("2.42").layout, L43 = layoutFor("2.43").layout;
const hex = (n: number) => "0x" + n.toString(16);

/** A heap page with the struct at user pointer H+0x10 and chunks of the given sizes (in use). */
function heap() {
  const p = new FakeProcess();
  p.map(H, H + 0x10000, "rw-p", "[heap]");
  const sizes = new Map<number, number>(); // header -> csize of in-use chunks
  return {
    p,
    sizes,
    lookup: (h: number) => sizes.get(h),
    mem: () => new MemoryImage(p.snapshot().memory),
  };
}

/** Pushes user pointer `e` (chunk size `csize`) on bin `i` of the struct at `t`, layout `l`. */
function push(
  h: ReturnType<typeof heap>,
  l: typeof L36,
  t: number,
  i: number,
  e: number,
  csize: number,
  key = 0x5eed,
) {
  const head = readU64(h, t + l.tcacheEntries + 8 * i);
  h.p.w64(e, l.safeLinking ? protect(e, head) : head);
  h.p.w64(e + 8, key);
  h.p.w64(t + l.tcacheEntries + 8 * i, e);
  h.sizes.set(e - 16, csize);
  // counts[i] += 1 (a u8 count is the low byte of the little-endian u16 at t + i).
  const at = l.tcacheCountBytes === 2 ? t + 2 * i : t + i;
  h.p.w16(at, readU16(h, at) + 1);
}

function readU64(h: ReturnType<typeof heap>, a: number): number {
  return h.mem().u64(a)!;
}
function readU16(h: ReturnType<typeof heap>, a: number): number {
  return h.mem().u16(a)!;
}

const T = H + 0x10; // the struct's user pointer

Deno.test("walkTcache() follows safe-linked chains from plain heads (2.36)", () => {
  const h = heap();
  push(h, L36, T, 0, H + 0x1010, 0x20);
  push(h, L36, T, 0, H + 0x1030, 0x20);
  push(h, L36, T, 5, H + 0x1100, 0x70);
  const w = walkTcache(h.mem(), T, L36, h.lookup);
  assertEquals(w.problem, undefined);
  assertEquals(w.entries.sort(), [H + 0x1000, H + 0x1020, H + 0x10f0].sort());
  assertEquals(w.counts, "exact");
  assertEquals([w.heads[0], w.chains[0], w.chains[5]], [H + 0x1030, 2, 1]);
});

Deno.test("walkTcache() reports a cycle, a wrong-size entry and a misaligned (badly revealed) one", () => {
  const h = heap();
  push(h, L36, T, 0, H + 0x1010, 0x20);
  push(h, L36, T, 0, H + 0x1030, 0x20);
  h.p.w64(H + 0x1010, protect(H + 0x1010, H + 0x1030)); // tail -> head: a cycle
  assertEquals(
    walkTcache(h.mem(), T, L36, h.lookup).problem,
    `tcache ${hex(T)} bin 0: cycle at ${hex(H + 0x1030)}`,
  );
  h.p.w64(H + 0x1010, protect(H + 0x1010, 0));
  h.sizes.set(H + 0x1020, 0x30); // the head's chunk is not of bin 0's size
  assertEquals(
    walkTcache(h.mem(), T, L36, h.lookup).problem,
    `tcache ${hex(T)} bin 0: entry ${hex(H + 0x1030)} is not a chunk of size 0x20`,
  );
  h.sizes.set(H + 0x1020, 0x20);
  // A chain pointer stored without PROTECT_PTR reveals to a misaligned address.
  h.p.w64(H + 0x1030, H + 0x1010);
  const w = walkTcache(h.mem(), T, L36, h.lookup);
  assert(/bin 0: entry 0x[0-9a-f]+ is not a chunk of size 0x20/.test(w.problem!), w.problem);
  assertEquals(w.entries, [H + 0x1020]);
});

Deno.test("walkTcache() tells exact, stale (a drained struct) and bad counts apart", () => {
  const h = heap();
  push(h, L36, T, 1, H + 0x1010, 0x30);
  push(h, L36, T, 1, H + 0x1040, 0x30);
  assertEquals(walkTcache(h.mem(), T, L36, h.lookup).counts, "exact");
  h.p.w64(T + 0x80 + 8, H + 0x1010); // shutdown unlinked the head; count still 2
  const stale = walkTcache(h.mem(), T, L36, h.lookup);
  assertEquals([stale.counts, stale.everUsed, stale.entries], ["stale", true, [H + 0x1000]]);
  h.p.w16(T + 2, 0); // fewer counted than listed: not a state glibc leaves
  assertEquals(walkTcache(h.mem(), T, L36, h.lookup).counts, "bad");
});

Deno.test("walkTcache() reads 2.28's char counts and raw chains", () => {
  const h = heap();
  push(h, L28, T, 2, H + 0x1010, 0x40);
  push(h, L28, T, 2, H + 0x1050, 0x40);
  const w = walkTcache(h.mem(), T, L28, h.lookup);
  assertEquals([w.problem, w.counts, w.entries.length], [undefined, "exact", 2]);
  assertEquals(h.mem().u64(H + 0x1050), H + 0x1010); // not mangled before 2.32
});

Deno.test("walkTcache() reads 2.42's free-slot counts and its large bins", () => {
  const h = heap();
  const t = T;
  for (let i = 0; i < L42.tcacheBins; i++) h.p.w16(t + 2 * i, 7); // tcache_init: num_slots = 7
  const put = (i: number, e: number, csize: number) => {
    const head = h.mem().u64(t + L42.tcacheEntries + 8 * i)!;
    h.p.w64(e, protect(e, head));
    h.p.w64(t + L42.tcacheEntries + 8 * i, e);
    h.sizes.set(e - 16, csize);
    h.p.w16(t + 2 * i, h.mem().u16(t + 2 * i)! - 1);
  };
  put(0, H + 0x1010, 0x20);
  put(65, H + 0x2010, 0x900); // large bin 65: [0x800, 0x1000)
  put(65, H + 0x3010, 0xff0);
  const w = walkTcache(h.mem(), t, L42, h.lookup, 7);
  assertEquals([w.problem, w.counts], [undefined, "exact"]);
  assertEquals(w.entries.length, 3);
  // A 0x700 chunk does not belong to bin 65.
  h.sizes.set(H + 0x3000, 0x700);
  assert(/bin 65: entry .* is not a chunk of size 0x800–0xff0/.test(
    walkTcache(h.mem(), t, L42, h.lookup, 7).problem!,
  ));
});

/** A two-thread process: thread 1 has a tcache at T; thread 2 is exiting and draining T2. */
function exitingThread(layout: typeof L36, tlsDummy = 0) {
  const h = heap();
  const T2 = H + 0x4010;
  const STACK = 0x7ffff7000000, tp1 = 0x7ffff7100000 - 0x940, tp2 = STACK + 0xf000;
  h.p.map(0x7ffff7100000 - 0x1000, 0x7ffff7100000, "rw-p");
  h.p.map(STACK, STACK + 0x10000, "rw-p");
  h.sizes.set(T - 16, 0x290);
  h.sizes.set(T2 - 16, 0x290);
  push(h, layout, T, 3, H + 0x1010, 0x50, 0xabcdef);
  // Thread 2 cached three 0x110 blocks; shutdown unlinked the head (in flight) and waits.
  for (const e of [H + 0x5010, H + 0x5130, H + 0x5250]) push(h, layout, T2, 15, e, 0x110, 0xabcdef);
  h.p.w64(T2 + layout.tcacheEntries + 8 * 15, H + 0x5130); // entries[15] = REVEAL(head->next)
  h.p.w64(tp1 - 0x50, T);
  h.p.w64(tp2 - 0x50, tlsDummy);
  h.p.map(0x7ffff7800000, 0x7ffff7801000, "rw-p", "/usr/lib/x86_64-linux-gnu/libc.so.6");
  h.p.w64signed(0x7ffff7800d78, -0x50); // GOT TPOFF slot of `tcache`
  const threads: ThreadState[] = [
    { tid: 1, sp: 0x7ffff7100000 - 0x1000, pc: 0, tp: tp1, registers: [] },
    // The exiting thread: the struct in a register, the in-flight entry's header on its stack.
    { tid: 2, sp: STACK + 0x8000, pc: 0, tp: tp2, registers: [{ name: "rbx", value: T2 }] },
  ];
  h.p.w64(STACK + 0x8040, H + 0x5240);
  const input = (): FindTcachesInput => ({
    mem: h.mem(),
    threads,
    libcData: [{ start: 0x7ffff7800000, end: 0x7ffff7801000 }],
    libcRegions: [{ start: 0x7ffff7800000, end: 0x7ffff7801000 }],
    candidates: {
      users: Float64Array.from([T, T2]),
      sizes: Float64Array.from([0x290, 0x290]),
    },
    layout,
    lookup: h.lookup,
    warnings: [],
    liveStack: (t) => ({ start: t.sp, end: t.sp + 0x1000 }),
  });
  return { h, T2, input };
}

Deno.test("findTcaches() finds an exiting thread's drained struct and the entry it was freeing", () => {
  const { T2, input } = exitingThread(L36);
  const inp = input();
  const found = findTcaches(inp);
  assertEquals(found.map((f) => [f.user, f.tid, f.draining]), [[T, 1, false], [T2, 2, true]]);
  const drained = found[1]!;
  assertEquals(drained.walk.entries, [H + 0x5120, H + 0x5000]);
  assertEquals(drained.inFlight, H + 0x5240);
  assert(inp.warnings.includes(
    `thread 2 is exiting and freeing its tcache struct ${hex(T2)}: its 3 cached blocks are free`,
  ));
});

Deno.test("findTcaches() needs the exiting thread's own evidence for a stale struct", () => {
  const { input } = exitingThread(L36);
  const inp = input();
  inp.threads[1]!.registers = [];
  inp.liveStack = () => undefined;
  // Stale counts and no thread naming it: neither the thread's nor an orphan (exact counts only).
  assertEquals(findTcaches(inp).map((f) => f.user), [T]);
});

Deno.test("findTcaches() takes 2.43's dummy tcache pointer (into libc) for no tcache", () => {
  const { T2, input } = exitingThread(L43, 0x7ffff7800100);
  const found = findTcaches(input());
  assertEquals(found.map((f) => [f.user, f.tid]), [[T, 1], [T2, 2]]);
  // Its key is still tcache_put's here, not 0 as 2.43 leaves it: not taken as the in-flight one.
  assertEquals(found[1]!.inFlight, undefined);
});
