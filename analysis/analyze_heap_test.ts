// Tests for the phases after enumeration, on a snapshot laid out by hand.
import { deepEqual as assertEquals } from "node:assert/strict";
import { analyzeHeap } from "./analyze_heap.ts";
import type { Allocation, HeapEnumeration, Snapshot } from "./types.ts";

const D = 0x5555_5555_8000; // image data
const H = 0x5555_5555_9000; // heap
const S = 0x7fff_fffd_e000; // stack
const SP = S + 0x1000;

function build() {
  const data = new DataView(new ArrayBuffer(0x1000));
  const heap = new DataView(new ArrayBuffer(0x1000));
  const stack = new DataView(new ArrayBuffer(0x2000));
  const put = (view: DataView, off: number, v: number) => view.setBigUint64(off, BigInt(v), true);
  const names = ["A", "B", "C", "D1", "D2", "T", "O", "K", "R3", "RG", "X"] as const;
  const at: Record<string, number> = {};
  const allocations: Allocation[] = names.map((name, i) => {
    at[name] = H + 0x10 + i * 0x40;
    return { address: at[name]!, size: 0x38, zone: "main-arena" };
  });
  const inHeap = (name: string, field: number, target: number) =>
    put(heap, at[name]! - H + field, target);
  put(data, 0x40, at.A!); // global -> A
  inHeap("A", 8, at.B! + 8); // interior pointer
  inHeap("D1", 0, at.D2!);
  inHeap("D2", 16, at.D1!);
  inHeap("D2", 24, at.T!); // tail of the cycle
  inHeap("O", 0, at.K!); // orphan holding a child
  inHeap("X", 32, at.X!); // self loop
  put(data, 0x100, at.C!); // inside an excluded range (allocator bookkeeping): not a root
  put(stack, 0x800, at.C!); // stale, below SP: not a root
  put(stack, 0x1800, at.R3!); // live stack slot
  const snapshot: Snapshot = {
    pid: 1,
    command: "synthetic",
    platform: "linux",
    arch: "x86_64",
    pageSize: 4096,
    capturedAt: new Date(0).toISOString(),
    pauseMs: 0,
    regions: [
      { start: D, end: D + 0x1000, perms: "rw-p", offset: 0, inode: 1, path: "/bin/victim" },
      { start: H, end: H + 0x1000, perms: "rw-p", offset: 0, inode: 0, path: "[heap]" },
      { start: S, end: S + 0x2000, perms: "rw-p", offset: 0, inode: 0, path: "[stack]" },
    ],
    memory: [
      { start: D, bytes: new Uint8Array(data.buffer) },
      { start: H, bytes: new Uint8Array(heap.buffer) },
      { start: S, bytes: new Uint8Array(stack.buffer) },
    ],
    threads: [{
      tid: 1,
      sp: SP,
      pc: 0,
      tp: 0,
      registers: [{ name: "rbx", value: at.RG! + 4 }, { name: "rip", value: 0x401000 }],
    }],
    images: [{ path: "/bin/victim", bias: 0, writable: [{ start: D, end: D + 0x1000 }] }],
    warnings: [],
  };
  const enumeration: HeapEnumeration = {
    allocator: "test",
    allocations,
    excluded: [{ start: D + 0x100, end: D + 0x200, why: "main_arena" }],
    heapRanges: [{ start: H, end: H + 0x1000 }],
    warnings: [],
  };
  return { snapshot, enumeration, at, names };
}

Deno.test("analyzeHeap() finds reachable, direct, indirect and cycle blocks", () => {
  const { snapshot, enumeration, names } = build();
  const a = analyzeHeap(snapshot, enumeration);
  const by = Object.fromEntries(names.map((n, i) => [n, `${a.status[i]}/${a.leak[i] ?? "-"}`]));
  assertEquals(by, {
    A: "reachable/-",
    B: "reachable/-",
    R3: "reachable/-",
    RG: "reachable/-",
    C: "leaked/direct",
    D1: "cycle/direct",
    D2: "cycle/indirect",
    T: "leaked/indirect",
    O: "leaked/direct",
    K: "leaked/indirect",
    X: "cycle/direct",
  });
  assertEquals(a.cycles.map((c) => c.map((i) => names[i])), [["D1", "D2"], ["X"]]);
});

Deno.test("analyzeHeap() records edges with offsets and why each block is alive", () => {
  const { snapshot, enumeration, at, names } = build();
  const a = analyzeHeap(snapshot, enumeration);
  const id = (n: string) => names.indexOf(n as (typeof names)[number]);
  const edges = [...a.edgeSource].map((
    s,
    e,
  ) => [names[s], names[a.edgeTarget[e]!], a.edgeOffset[e]]);
  assertEquals(edges, [["A", "B", 8], ["D1", "D2", 0], ["D2", "D1", 16], ["D2", "T", 24], [
    "O",
    "K",
    0,
  ], ["X", "X", 32]]);
  assertEquals(a.via[id("B")], id("A"));
  assertEquals(a.via[id("A")], -1);
  const kinds = Object.fromEntries(a.roots.map((r) => [names[r.target], r.kind]));
  assertEquals(kinds, { A: "data", R3: "stack", RG: "register" });
  const rootA = a.roots.find((r) => r.target === id("A"))!;
  assertEquals(rootA.address, 0x5555_5555_8040);
  assertEquals(rootA.image, "/bin/victim");
  assertEquals(at.A! > 0, true);
});
