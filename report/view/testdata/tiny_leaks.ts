// A tiny hand-built leaks file for the view tests: every kind of block, ids that are not indices.

import { LEAKS_FORMAT, LEAKS_VERSION } from "../../schema.ts";
import type { LeaksFile, LeaksNode, LeaksSite } from "../../schema.ts";
import { emptySite } from "../../sample_leaks.ts";

/**
 * 0 root-held → 1 (reachable). Leaks: 2 direct → 3 indirect → 4 indirect (4 → 1 reachable);
 * ring 5 ⇄ 6 nobody holds (5 counted direct); 7 direct alone (mmapped).
 */
export function tiny(): LeaksFile {
  const node = (
    id: number,
    size: number,
    zone: string,
    status: LeaksNode["status"],
    leak?: "direct" | "indirect",
  ) => ({
    id: id * 10 + 100, // ids are not indices: exercises the id map
    address: "0x" + (0x1000 + id * 0x100).toString(16),
    size,
    zone,
    status,
    ...(leak ? { leak } : {}),
  });
  const nodes: LeaksNode[] = [
    node(0, 64, "main", "reachable"),
    node(1, 32, "main", "reachable"),
    node(2, 100, "main", "leaked", "direct"),
    node(3, 200, "main", "leaked", "indirect"),
    node(4, 300, "other", "leaked", "indirect"),
    node(5, 48, "main", "cycle", "direct"),
    node(6, 16, "main", "cycle", "indirect"),
    node(7, 200000, "mmapped", "leaked", "direct"),
  ];
  nodes[2]!.bytes = "68656c6c6f00" + "00".repeat(12) + "ff";
  const id = (i: number) => i * 10 + 100;
  const edge = (s: number, t: number, offset: number) => ({ source: id(s), target: id(t), offset });
  return {
    format: LEAKS_FORMAT,
    version: LEAKS_VERSION,
    target: { pid: 7, command: "./t", platform: "linux", arch: "x86_64", allocator: "glibc" },
    capturedAt: "2025-01-02T03:04:05.000Z",
    pauseMs: 3,
    summary: {
      allocations: 8,
      bytes: 64 + 32 + 100 + 200 + 300 + 48 + 16 + 200000,
      reachable: 2,
      leaked: 6,
      leakedBytes: 100 + 200 + 300 + 48 + 16 + 200000,
      direct: 3,
      indirect: 3,
      cycles: 1,
    },
    nodes,
    edges: [
      edge(0, 1, 8),
      edge(2, 3, 0),
      edge(3, 4, 16),
      edge(4, 1, 24),
      edge(5, 6, 0),
      edge(6, 5, 8),
    ],
    cycles: [[id(5), id(6)]],
    roots: [{ kind: "stack", thread: 1, address: "0x7ffc00000000", target: id(0) }],
    phases: { attach: 1, scan: 2.5 },
    warnings: ["w1"],
  };
}
/** tiny() as a recorded process: three sites, their stacks, a timeline. */
export function tinyRecorded(): LeaksFile {
  const leaks = tiny();
  const site = (s: number, over: Partial<LeaksSite>): LeaksSite => ({ ...emptySite(s), ...over });
  leaks.version = 2;
  leaks.stacks = [
    [
      { pc: "0x10", function: "__libc_malloc", image: "/lib/libc.so.6" },
      { pc: "0x20", function: "parse", file: "/src/p.c", line: 12, image: "/bin/t" },
      { pc: "0x30", function: "main", file: "/src/main.c", line: 3, image: "/bin/t" },
    ],
    [
      { pc: "0x11", function: "hs_record", image: "/build/librecorder.so" },
      { pc: "0x12", function: "operator new(unsigned long)", image: "/lib/libstdc++.so.6" },
      { pc: "0x40", image: "/usr/lib/libfoo.so.1" },
    ],
    [
      { pc: "0x13", function: "calloc", image: "/lib/libc.so.6" },
      { pc: "0x50", function: "grow", file: "/src/buf.c", image: "/bin/t" },
    ],
  ];
  leaks.sites = [
    site(0, { count: 2, bytes: 300, leakedCount: 2, leakedBytes: 300, direct: 1, oldestMs: 900 }),
    site(1, { count: 5, bytes: 5000, oldestMs: 50 }),
    site(2, { count: 1, bytes: 200000, leakedCount: 1, leakedBytes: 200000, direct: 1 }),
  ];
  leaks.omittedSites = 4;
  leaks.timeline = [
    { timeNs: 0, liveBytes: 0, liveCount: 0 },
    { timeNs: 100e6, liveBytes: 5000, liveCount: 5 },
    { timeNs: 200e6, liveBytes: 9000, liveCount: 7 },
    { timeNs: 300e6, liveBytes: 8000, liveCount: 6 },
  ];
  const at = (i: number, s: number, thread: number, ageMs: number) =>
    Object.assign(leaks.nodes[i]!, { site: s, thread, ageMs });
  at(2, 0, 11, 900);
  at(3, 0, 12, 800);
  at(7, 2, 11, 5);
  at(0, 1, 11, 50);
  return leaks;
}
