// A hand-laid snapshot for tests: globals, a stack with a stale slot, registers, cycles, a tail.
import { AllocationTable } from "../allocation_table.ts";
import type { Allocation, HeapEnumeration, MemoryChunk, Snapshot } from "../types.ts";

const D = 0x5555_5555_8000; // image data
const H = 0x5555_5555_9000; // heap
const S = 0x7fff_fffd_e000; // stack
const SP = S + 0x1000;

/** Blocks A..X with known fates; see analyze_test.ts for what each must be. */
export function buildSynthetic() {
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
    allocations: AllocationTable.from(allocations),
    excluded: [{ start: D + 0x100, end: D + 0x200, why: "main_arena" }],
    heapRanges: [{ start: H, end: H + 0x1000 }],
    warnings: [],
  };
  return { snapshot, enumeration, at, names };
}

/**
 * buildSynthetic() with stale pointers in A (reachable) to `targets`, at +0x20, +0x28, and glibc's
 * foot (the chunk's size, 64) in A's last word: A's words from +0x20 on are weak evidence, so each
 * target is only possibly hidden ("possible"), with what hangs off it.
 */
export function buildWeakHeld(targets: readonly string[] = ["O"]) {
  if (targets.length > 2) throw new Error("A's weak tail has room for two pointers");
  const built = buildSynthetic();
  const heap = new DataView(built.snapshot.memory[1]!.bytes.buffer);
  const base = built.snapshot.memory[1]!.start;
  targets.forEach((t, i) =>
    heap.setBigUint64(built.at.A! - base + 0x20 + 8 * i, BigInt(built.at[t]!), true)
  );
  heap.setBigUint64(built.at.A! - base + 0x30, 64n, true);
  return built;
}

/**
 * A one-region heap at [base, end) with the given copied chunks and blocks (one zone "z"), as a
 * snapshot and its enumeration: the random heaps of the kernels' tests.
 */
export function heapOf(
  command: string,
  base: number,
  end: number,
  memory: MemoryChunk[],
  addresses: number[],
  sizes: number[],
): { snapshot: Snapshot; heap: HeapEnumeration } {
  const snapshot: Snapshot = {
    pid: 1,
    command,
    platform: "linux",
    arch: "x86_64",
    pageSize: 4096,
    capturedAt: "",
    pauseMs: 0,
    regions: [{ start: base, end, perms: "rw-p", offset: 0, inode: 0, path: "" }],
    memory,
    threads: [],
    images: [],
    warnings: [],
  };
  const allocations = new AllocationTable(
    Float64Array.from(addresses),
    Float64Array.from(sizes),
    new Uint16Array(addresses.length),
    ["z"],
  );
  const heap = { allocator: command, allocations, excluded: [], heapRanges: [], warnings: [] };
  return { snapshot, heap };
}
