// Direct tests of root collection: which registers are roots, the live and dead parts of a stack,
// what is never a root (heap, allocator bookkeeping), weak evidence.

import assert from "node:assert/strict";
import { collectRoots, inSystemCall, registerRoots, subtract } from "./roots.ts";
import { MemoryImage } from "./memory.ts";
import { AllocationTable } from "./allocation_table.ts";
import type { HeapEnumeration, Snapshot, ThreadState } from "./types.ts";

const NOT_IN_SYSCALL = 2 ** 64 - 1;

function thread(regs: Record<string, number>): ThreadState {
  return {
    tid: 7,
    sp: regs.rsp ?? 0,
    pc: regs.rip ?? 0,
    tp: 0,
    registers: Object.entries(regs).map(([name, value]) => ({ name, value })),
  };
}

Deno.test("registerRoots(): at a system call only callee-saved registers, SP and fs_base", () => {
  const all = { rax: 1, rbx: 2, rcx: 3, rdi: 4, r8: 5, r12: 6, rsp: 7, fs_base: 8, "xmm0.lo": 9 };
  const blocked = thread({ ...all, orig_rax: 0 });
  assert.ok(inSystemCall("x86_64", blocked));
  assert.deepEqual(registerRoots("x86_64", blocked).map((r) => r.name).sort(), [
    "fs_base",
    "r12",
    "rbx",
    "rsp",
  ]);
  const running = thread({ ...all, orig_rax: NOT_IN_SYSCALL });
  assert.ok(!inSystemCall("x86_64", running));
  const roots = registerRoots("x86_64", running);
  assert.equal(roots.length, Object.keys(all).length + 1, "every register in user code");
  assert.deepEqual(roots.filter((r) => r.weak).map((r) => r.name), ["xmm0.lo"]);
});

Deno.test("subtract() removes holes from spans", () => {
  assert.deepEqual(
    subtract([{ start: 0, end: 100 }], [{ start: 10, end: 20 }, { start: 90, end: 200 }]),
    [
      { start: 0, end: 10 },
      { start: 20, end: 90 },
    ],
  );
});

Deno.test("collectRoots(): data, the live stack (red zone weak), never the heap or bookkeeping", () => {
  const D = 0x400000, H = 0x800000, S = 0x7fff0000;
  const sp = S + 0x800;
  const snapshot: Snapshot = {
    pid: 1,
    command: "t",
    platform: "linux",
    arch: "x86_64",
    pageSize: 4096,
    capturedAt: "",
    pauseMs: 0,
    regions: [
      { start: D, end: D + 0x1000, perms: "rw-p", offset: 0, inode: 1, path: "/bin/t" },
      { start: H, end: H + 0x1000, perms: "rw-p", offset: 0, inode: 0, path: "[heap]" },
      { start: S, end: S + 0x1000, perms: "rw-p", offset: 0, inode: 0, path: "[stack]" },
    ],
    memory: [],
    threads: [{ ...thread({ rsp: sp, orig_rax: NOT_IN_SYSCALL }), sp }],
    images: [{ path: "/bin/t", bias: 0, writable: [{ start: D, end: D + 0x1000 }] }],
    warnings: [],
  };
  const heap: HeapEnumeration = {
    allocator: "test",
    allocations: AllocationTable.from([]),
    excluded: [{ start: D + 0x100, end: D + 0x200, why: "arena" }],
    heapRanges: [{ start: H, end: H + 0x1000 }],
    warnings: [],
  };
  const r = collectRoots(snapshot, new MemoryImage([]), heap);
  const spans = r.ranges.map((
    x,
  ) => [
    x.kind,
    x.start - (x.kind === "data" ? D : S),
    x.end - (x.kind === "data" ? D : S),
    x.weak ?? false,
  ]);
  assert.deepEqual(spans, [
    ["data", 0, 0x100, false],
    ["data", 0x200, 0x1000, false],
    ["stack", 0x800 - 128, 0x800, true], // the red zone: weak
    ["stack", 0x800, 0x1000, false],
  ]);
  assert.ok(!r.ranges.some((x) => x.start < H + 0x1000 && x.end > H), "the heap is never a root");
});
