// Micro-benchmark of the pure-TypeScript phases (index, roots, scan, flood fill, classify) on a
// synthetic glibc-like heap of N blocks, no target process needed.
//
// Usage: node_modules/.bin/deno run -A bench/scan_micro.ts [N ...] [--reps R] [--json]
// --json also times leaks.json (--graph all) encoded to UTF-8 piece by piece, as main.ts writes it.
// The heap mimics bench/workload.c: 4 arenas, chunks laid out back to back with 16-byte headers,
// mixed sizes 16 B..4 KiB, ~2 pointers per live block, every 1000th block orphaned and a 2-cycle
// per 1000 blocks. Prints per-phase ms, scan GB/s and checks the leak counts.

import process from "node:process";
import { AllocationTable, analyzeHeap, LEAK_DIRECT, STATUS_CYCLE } from "../analysis/mod.ts";
import { leaksJsonChunks } from "../report/mod.ts";
import type { Allocation, HeapEnumeration, MemoryChunk, Snapshot } from "../analysis/mod.ts";

const ARENAS = [0x5555_5556_0000, 0x7f10_0000_0000, 0x7f20_0000_0000, 0x7f30_0000_0000];
const DATA = 0x5555_5555_0000;

function makeRng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s;
  };
}

function pickSize(r: number): number {
  const bucket = r % 100, x = r >>> 8;
  if (bucket < 50) return 16 + x % 49;
  if (bucket < 85) return 64 + x % 193;
  if (bucket < 98) return 256 + x % 769;
  return 1024 + x % 3073;
}

const isLeaked = (i: number) => {
  const r = i % 1000;
  return r === 0 || r === 500 || r === 501;
};

export function buildHeap(n: number) {
  const per = Math.floor(n / ARENAS.length);
  const allocations: Allocation[] = [];
  const memory: MemoryChunk[] = [];
  const rootPtrs: number[] = [];
  let heapBytes = 0;
  const heapRanges: { start: number; end: number }[] = [];
  for (let t = 0; t < ARENAS.length; t++) {
    const rng = makeRng(t * 7919 + 1);
    const sizes = new Uint32Array(per);
    let total = 16;
    for (let i = 0; i < per; i++) {
      // Usable size as glibc gives it: chunk = max(32, align16(size + 8)), usable = chunk - 8.
      const chunk = Math.max(32, (pickSize(rng()) + 8 + 15) & ~15);
      sizes[i] = chunk;
      total += chunk;
    }
    const base = ARENAS[t]!;
    const bytes = new Uint8Array(total + 16);
    const dv = new DataView(bytes.buffer);
    const addr = new Float64Array(per);
    let off = 16;
    for (let i = 0; i < per; i++) {
      addr[i] = base + off + 16;
      off += sizes[i]!;
    }
    const put = (a: number, v: number) => {
      const o = a - base;
      dv.setUint32(o, v % 4294967296, true);
      dv.setUint32(o + 4, Math.floor(v / 4294967296), true);
    };
    let prevLive = 0;
    for (let i = 0; i < per; i++) {
      const a = addr[i]!;
      const usable = sizes[i]! - 8;
      dv.setUint32(a - 8 - base, sizes[i]! | 1, true); // size field
      allocations.push({ address: a, size: usable, zone: t === 0 ? "main-arena" : "arena" });
      // Non-pointer payload in every word, as in the workload.
      for (let w = 2; w * 8 < usable; w++) {
        dv.setUint32(a - base + w * 8, (i * 31 + w) & 0xffffff, true);
      }
      if (isLeaked(i)) {
        if (i % 1000 === 501) {
          put(a, addr[i - 1]!);
          put(addr[i - 1]!, a);
        }
        continue;
      }
      put(a, prevLive);
      if (i > 0) {
        let j = rng() % i;
        while (isLeaked(j)) j++;
        put(a + 8, addr[j]!);
      }
      prevLive = a;
      if (i % 100 === 99) rootPtrs.push(a);
    }
    rootPtrs.push(prevLive);
    memory.push({ start: base, bytes });
    heapRanges.push({ start: base, end: base + bytes.length });
    heapBytes += bytes.length;
  }
  allocations.sort((a, b) => a.address - b.address);
  const data = new Uint8Array(Math.ceil((rootPtrs.length * 8 + 64) / 4096) * 4096);
  const ddv = new DataView(data.buffer);
  rootPtrs.forEach((p, k) => {
    ddv.setUint32(k * 8, p % 4294967296, true);
    ddv.setUint32(k * 8 + 4, Math.floor(p / 4294967296), true);
  });
  memory.push({ start: DATA, bytes: data });
  memory.sort((a, b) => a.start - b.start);
  const snapshot: Snapshot = {
    pid: 1,
    command: "scan_micro",
    platform: "linux",
    arch: "x86_64",
    pageSize: 4096,
    capturedAt: new Date(0).toISOString(),
    pauseMs: 0,
    regions: [
      { start: DATA, end: DATA + data.length, perms: "rw-p", offset: 0, inode: 1, path: "/bench" },
      ...memory.filter((m) => m.start !== DATA).map((m) => ({
        start: m.start,
        end: m.start + m.bytes.length,
        perms: "rw-p",
        offset: 0,
        inode: 0,
        path: "",
      })),
    ],
    memory,
    threads: [],
    images: [{ path: "/bench", bias: 0, writable: [{ start: DATA, end: DATA + data.length }] }],
    warnings: [],
  };
  const heap: HeapEnumeration = {
    allocator: "synthetic",
    allocations: AllocationTable.from(allocations),
    excluded: [],
    heapRanges,
    warnings: [],
  };
  return { snapshot, heap, heapBytes, per };
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => !a.startsWith("--"));
  const repsAt = Deno.args.indexOf("--reps");
  const reps = repsAt >= 0 ? Number(Deno.args[repsAt + 1]) : 3;
  const ns = args.filter((a, i) => Deno.args[Deno.args.indexOf(a) - 1] !== "--reps" || i < 0)
    .map(Number);
  if (ns.length === 0) ns.push(100_000, 1_000_000);
  for (const n of ns) {
    const t0 = performance.now();
    const { snapshot, heap, heapBytes, per } = buildHeap(n);
    const buildMs = performance.now() - t0;
    for (let r = 0; r < reps; r++) {
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      const a = analyzeHeap(snapshot, heap);
      const total = performance.now() - t1;
      const cpu = process.cpuUsage(c1);
      const p = a.phaseMs;
      if (Deno.args.includes("--json")) {
        const t2 = performance.now(), c2 = process.cpuUsage();
        let bytes = 0;
        for (const chunk of leaksJsonChunks(a)) bytes += chunk.length;
        p["write-json"] = performance.now() - t2;
        const jc = process.cpuUsage(c2);
        p["write-json-cpu"] = (jc.user + jc.system) / 1000;
        p["json-MB"] = bytes / 1e6;
      }
      let direct = 0, cycle = 0;
      for (let i = 0; i < a.status.length; i++) {
        if (a.leak[i] === LEAK_DIRECT) direct++;
        if (a.status[i] === STATUS_CYCLE) cycle++;
      }
      const expectDirect = ARENAS.length * (Math.ceil(per / 1000) + Math.ceil((per - 500) / 1000));
      const ok = direct === expectDirect &&
        cycle === 2 * ARENAS.length * Math.ceil((per - 500) / 1000);
      console.log(
        `N=${n} rep=${r} heap=${(heapBytes / 1e6).toFixed(0)}MB build=${buildMs.toFixed(0)}ms ` +
          Object.entries(p).map(([k, v]) => `${k}=${v.toFixed(1)}`).join(" ") +
          ` total=${total.toFixed(0)}ms cpu=${
            ((cpu.user + cpu.system) / 1000).toFixed(0)
          }ms scanGBps=${(heapBytes / (p.scan ?? 1) / 1e6).toFixed(2)}` +
          ` edges=${a.edgeSource.length} direct=${direct} cycleNodes=${cycle} ${
            ok ? "OK" : "WRONG"
          }`,
      );
    }
  }
}
