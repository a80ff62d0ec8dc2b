// Tests of the report selectors on small hand-built leaks files and on generated ones.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { LEAKS_FORMAT, LEAKS_VERSION } from "./schema.ts";
import type { LeaksFile, LeaksNode, LeaksSite } from "./schema.ts";
import { emptySite, sampleLeaks } from "./sample_leaks.ts";
import {
  formatBytes,
  formatDuration,
  hexdump,
  isAllocatorFrame,
  meaningfulFrame,
  normalizeAddressQuery,
  selectCycles,
  selectGraph,
  selectHeader,
  selectLeaksTable,
  selectMethod,
  selectNodeDetail,
  selectReportModel,
  selectSites,
  selectStats,
  selectTimeline,
  selectVisible,
  selectZones,
  sizeClassOf,
} from "./selectors.ts";

/**
 * 0 root-held → 1 (reachable). Leaks: 2 direct → 3 indirect → 4 indirect (4 → 1 reachable);
 * ring 5 ⇄ 6 nobody holds (5 counted direct); 7 direct alone (mmapped).
 */
function tiny(): LeaksFile {
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

Deno.test("selectHeader() gives a red verdict with leaked count and bytes, green when clean", () => {
  const h = selectHeader(tiny());
  assertEquals(h.ok, false);
  assertEquals(h.verdict, "✗ 6 allocations unreachable from any root (196 KiB)");
  const clean = sampleLeaks({ allocations: 10, leakFraction: 0 });
  assertEquals(selectHeader(clean).verdict, "✓ no leaks: all 10 allocations are reachable");
  assertEquals(selectHeader(clean).ok, true);
});

Deno.test("selectStats() splits leaked bytes into direct and indirect and counts cycle blocks", () => {
  const s = selectStats(tiny());
  assertEquals([s.direct, s.directBytes, s.indirect, s.indirectBytes], [3, 200148, 3, 516]);
  assertEquals([s.cycles, s.cycleBlocks, s.reachableBytes], [1, 2, 96]);
});

Deno.test("selectZones() counts blocks, bytes and leaks per zone, largest first", () => {
  assertEquals(selectZones(tiny()), [
    { zone: "mmapped", count: 1, bytes: 200000, leaked: 1, leakedBytes: 200000 },
    { zone: "main", count: 6, bytes: 460, leaked: 4, leakedBytes: 364 },
    { zone: "other", count: 1, bytes: 300, leaked: 1, leakedBytes: 300 },
  ]);
});

Deno.test("selectCycles() lists cycles by bytes with the lowest member address, capped", () => {
  const c = selectCycles(tiny());
  assertEquals(c.rows, [{ index: 0, size: 2, bytes: 64, firstAddress: "0x1500", members: [] }]);
  const many = sampleLeaks({ allocations: 2000, leakFraction: 0.2 });
  const capped = selectCycles(many, 3);
  assertEquals(capped.rows.length, 3);
  assertEquals(capped.total, many.cycles.length);
  assertEquals(capped.omitted, many.cycles.length - 3);
  assert(
    capped.rows[0]!.bytes >= capped.rows[1]!.bytes &&
      capped.rows[1]!.bytes >= capped.rows[2]!.bytes,
  );
});

Deno.test("selectLeaksTable() puts direct leaks first, by held bytes, with the subgraph each holds", () => {
  const t = selectLeaksTable(tiny());
  assertEquals(t.rows.map((r) => [r.address, r.leak, r.heldBlocks, r.heldBytes]), [
    ["0x1700", "direct", 1, 200000],
    ["0x1200", "direct", 3, 600], // 2 → 3 → 4; the edge 4 → 1 leaves leaked memory and is not counted
    ["0x1500", "direct", 2, 64], // the ring
    ["0x1400", "indirect", 1, 300],
    ["0x1300", "indirect", 1, 200],
    ["0x1600", "indirect", 1, 16],
  ]);
  const capped = selectLeaksTable(tiny(), 2);
  assertEquals([capped.rows.length, capped.total, capped.omitted], [2, 6, 4]);
});

Deno.test("selectGraph() draws everything when small and maps edges to node indices", () => {
  const g = selectGraph(tiny());
  assertEquals(g.nodes.length, 8);
  assertEquals(g.notDrawn, 0);
  assertEquals(g.links.length, 6);
  for (const l of g.links) assert(g.nodes[l.source] && g.nodes[l.target]);
  const holder = g.nodes.find((n) => n.address === "0x1100")!;
  assertEquals([holder.inDegree, holder.outDegree], [2, 0]);
  assertEquals(g.nodes.find((n) => n.address === "0x1000")!.rooted, true);
  // Leaked blocks come first: cycle members, then direct, then indirect.
  assertEquals(g.nodes.slice(0, 2).map((n) => n.status), ["cycle", "cycle"]);
});

Deno.test("selectGraph() caps drawn nodes, keeps leaks and context, aggregates the rest", () => {
  const leaks = sampleLeaks({ allocations: 20_000, leakFraction: 0.05 });
  const g = selectGraph(leaks, 2000);
  assertEquals(g.nodes.length, 2000);
  assertEquals(g.notDrawn, 18_000);
  const leakedDrawn = g.nodes.filter((n) => n.status !== "reachable").length;
  assertEquals(leakedDrawn, 1000); // every leak fits under the cap
  assert(g.nodes.some((n) => n.status === "reachable"), "reachable context is drawn");
  // Every drawn reachable block that is context touches a drawn leak or was reached from a root.
  const aggregated = g.aggregates.reduce((sum, a) => sum + a.count, 0);
  assertEquals(aggregated, 18_000);
  assertEquals(g.aggregates.reduce((sum, a) => sum + a.bytes, 0), g.notDrawnBytes);
  assert(g.links.length <= 8000);
  // When leaks exceed the cap, 80% of the cap goes to leaks and the rest to their context.
  const big = selectGraph(sampleLeaks({ allocations: 100_000, leakFraction: 0.05 }), 1000);
  assertEquals(big.nodes.length, 1000);
  const leakedBig = big.nodes.filter((n) => n.status !== "reachable").length;
  assert(leakedBig >= 800 && leakedBig < 1000, `${leakedBig} leaked drawn`);
  assertEquals(big.notDrawnLeaked, 5000 - leakedBig);
  // Each drawn reachable block is one hop from a drawn leaked block.
  const touches = new Set<number>();
  for (const l of big.links) {
    const s = big.nodes[l.source]!, t = big.nodes[l.target]!;
    if (s.status !== "reachable" && t.status === "reachable") touches.add(l.target);
  }
  big.nodes.forEach((n, i) =>
    n.status === "reachable" && assert(touches.has(i), `${n.address} is context`)
  );
  // Cycle members are drawn before other leaks.
  assert(big.nodes.slice(0, 10).every((n) => n.status === "cycle"));
});

Deno.test("selectGraph() counts allocations the file left out as not drawn", () => {
  const leaks = tiny();
  leaks.summary.allocations = 1008;
  leaks.omitted = { nodes: 1000, bytes: 64000, edges: 3000 };
  const g = selectGraph(leaks);
  assertEquals([g.notDrawn, g.absentFromFile, g.notDrawnBytes, g.linksNotDrawn], [
    1000,
    1000,
    64000,
    3000,
  ]);
});

Deno.test("selectVisible() applies filter, zone and address search", () => {
  const g = selectGraph(tiny());
  const all = selectVisible(g, { filter: "all", zone: null, search: "" });
  assertEquals(all.counts, { reachable: 2, leaked: 4, cycle: 2, possible: 0 });
  assertEquals(selectVisible(g, { filter: "leaked", zone: null, search: "" }).counts, {
    reachable: 0,
    leaked: 4,
    cycle: 2,
    possible: 0,
  });
  assertEquals(selectVisible(g, { filter: "cycle", zone: null, search: "" }).counts, {
    reachable: 0,
    leaked: 0,
    cycle: 2,
    possible: 0,
  });
  assertEquals(
    selectVisible(g, { filter: "reachable", zone: null, search: "" }).counts.reachable,
    2,
  );
  assertEquals(selectVisible(g, { filter: "all", zone: "other", search: "" }).counts, {
    reachable: 0,
    leaked: 1,
    cycle: 0,
    possible: 0,
  });
  const found = selectVisible(g, { filter: "all", zone: null, search: " 0X14 " });
  assertEquals(found.matches.map((i) => g.nodes[i]!.address), ["0x1400"]);
  assertEquals(found.mask.reduce((a, b) => a + b, 0), 1);
  // A query that is not hex does not filter.
  assertEquals(selectVisible(g, { filter: "all", zone: null, search: "zzz" }).matches, []);
  assertEquals(normalizeAddressQuery("0xAB"), "ab");
});

Deno.test("selectNodeDetail() lists in/out edges with offsets, neighbours and a hexdump", () => {
  const g = selectGraph(tiny());
  const i = g.nodes.findIndex((n) => n.address === "0x1300");
  const d = selectNodeDetail(g, i)!;
  assertEquals(d.label, "indirect leak");
  assertEquals(d.inEdges.map((e) => [e.address, e.offset]), [["0x1200", 0]]);
  assertEquals(d.outEdges.map((e) => [e.address, e.offset]), [["0x1400", 16]]);
  assertEquals(d.neighbours.map((n) => g.nodes[n]!.address).sort(), ["0x1200", "0x1400"]);
  const withBytes = selectNodeDetail(g, g.nodes.findIndex((n) => n.address === "0x1200"))!;
  assertEquals(withBytes.hexdump, [
    "+000  68 65 6c 6c 6f 00 00 00 00 00 00 00 00 00 00 00  |hello...........|",
    "+010  00 00 ff                                         |...|",
  ]);
  assertEquals(selectNodeDetail(g, 99), null);
  const ring = selectNodeDetail(g, g.nodes.findIndex((n) => n.address === "0x1500"))!;
  assertEquals(ring.label, "direct leak, in a cycle");
});

Deno.test("selectMethod() names the platform calls and keeps phase timings and warnings", () => {
  const linux = selectMethod(tiny());
  assert(linux.calls.some((c) => c.name === "process_vm_readv"));
  assert(linux.calls.some((c) => c.name.includes("PTRACE_SEIZE")));
  assertEquals(linux.timings, [{ phase: "attach", ms: 1 }, { phase: "scan", ms: 2.5 }]);
  assertEquals(linux.totalMs, 3.5);
  assertEquals(linux.warnings, ["w1"]);
  assert(linux.limits.some((l) => l.includes("stale pointer")));
  const mac = tiny();
  mac.target.platform = "darwin";
  const m = selectMethod(mac);
  assertEquals(m.platform, "macOS");
  assert(
    m.calls.some((c) => c.name === "task_for_pid") &&
      m.calls.some((c) => c.name === "malloc_get_all_zones"),
  );
});

Deno.test("selectReportModel() links cycle rows and leak rows to drawn graph nodes", () => {
  const m = selectReportModel(tiny());
  const row = m.cycles.rows[0]!;
  assertEquals(row.members.map((i) => m.graph.nodes[i]!.address).sort(), ["0x1500", "0x1600"]);
  for (const i of row.members) assertEquals(m.graph.nodes[i]!.cycle, 0);
  for (const r of m.leaks.rows) assertEquals(m.graph.nodes[r.node!]!.address, r.address);
});

Deno.test("formatting helpers: bytes, size classes, hexdump of odd input", () => {
  assertEquals([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 1024 ** 3)], [
    "0 B",
    "1023 B",
    "1.5 KiB",
    "5.0 GiB",
  ]);
  assertEquals([sizeClassOf(32), sizeClassOf(33), sizeClassOf(1 << 20)], [
    "≤ 32 B",
    "≤ 128 B",
    "> 64 KiB",
  ]);
  assertEquals(hexdump(""), []);
});

/** tiny() as a recorded process: three sites; node 7 (200 KB leak) from site 2, 2 and 3 from site 0. */
function tinyRecorded(): LeaksFile {
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

Deno.test("selectSites() and selectTimeline() give null for a v1 file; the model has no sites", () => {
  const v1 = { ...tiny(), version: 1 as const };
  const m = selectReportModel(v1);
  assertEquals(m.sites, null);
  assertEquals(m.timeline, null);
  assertEquals(m.header.version, 1);
  assert(m.graph.nodes.every((n) => n.site === undefined && n.thread === undefined));
  assertEquals(selectNodeDetail(m.graph, 0, m.sites)!.stack, null);
  // Sample files without site data too.
  assertEquals(selectReportModel(sampleLeaks({ allocations: 300 })).sites, null);
});

Deno.test("selectSites() sorts by leaked then live bytes, labels the first frame outside the allocator", () => {
  const leaks = tinyRecorded();
  const m = selectReportModel(leaks);
  const s = m.sites!;
  assertEquals(s.rows.map((r) => r.site), [2, 0, 1]);
  assertEquals(s.rows.map((r) => [r.label, r.location]), [
    ["grow", "buf.c"],
    ["parse", "p.c:12"],
    ["libfoo.so.1@0x40", ""],
  ]);
  assertEquals(s.rows[1]!.file, "/src/p.c");
  assertEquals(s.total, 7);
  assertEquals(s.omitted, 4);
  // Each row lists its drawn graph nodes.
  const addresses = (r: { nodes: number[] }) =>
    r.nodes.map((i) => m.graph.nodes[i]!.address).sort();
  assertEquals(addresses(s.rows[1]!), ["0x1200", "0x1300"]);
  assertEquals(addresses(s.rows[0]!), ["0x1700"]);
  // Stacks: images reduced to basenames, allocator and recorder frames marked.
  assertEquals(s.stacks[0]!.frames.map((f) => [f.function, f.image, f.alloc ?? false]), [
    ["__libc_malloc", "libc.so.6", true],
    ["parse", "t", false],
    ["main", "t", false],
  ]);
  assertEquals(s.stacks[1]!.frames.map((f) => f.alloc ?? false), [true, true, false]);
  // Caps: one row, one stack of one frame.
  const capped = selectSites(leaks, m.graph, { maxSites: 1, maxStacks: 1, maxFrames: 1 })!;
  assertEquals(capped.rows.length, 1);
  assertEquals(capped.omitted, 6);
  assertEquals(Object.keys(capped.stacks), ["2"]);
  assertEquals(capped.stacks[2]!.more, 1);
});

Deno.test("selectNodeDetail() shows the allocation stack, thread and age of a recorded block", () => {
  const m = selectReportModel(tinyRecorded());
  const i = m.graph.nodes.findIndex((n) => n.address === "0x1200");
  const d = selectNodeDetail(m.graph, i, m.sites)!;
  assertEquals(d.stack!.site, 0);
  assertEquals(d.stack!.thread, 11);
  assertEquals(d.stack!.ageMs, 900);
  assertEquals(d.stack!.frames!.map((f) => f.function), ["__libc_malloc", "parse", "main"]);
  const unrecorded = m.graph.nodes.findIndex((n) => n.address === "0x1100");
  assertEquals(selectNodeDetail(m.graph, unrecorded, m.sites)!.stack, null);
});

Deno.test("selectVisible() narrows the graph to one allocation site", () => {
  const m = selectReportModel(tinyRecorded());
  const v = selectVisible(m.graph, { filter: "all", zone: null, search: "", site: 0 });
  assertEquals(
    [...v.mask].flatMap((on, i) => (on ? [m.graph.nodes[i]!.address] : [])).sort(),
    ["0x1200", "0x1300"],
  );
});

Deno.test("selectTimeline() keeps the peaks when bucketing and puts the snapshot after the last sample", () => {
  const t = selectTimeline(tinyRecorded())!;
  assertEquals(t.points.map((p) => [p.ms, p.bytes]), [[0, 0], [100, 5000], [200, 9000], [
    300,
    8000,
  ]]);
  assertEquals([t.peakBytes, t.peakCount, t.samples], [9000, 7, 4]);
  // The oldest live block (900 ms) was allocated after the recorder started: snapshot >= 900 ms.
  assertEquals(t.snapshotMs, 900);
  const bucketed = selectTimeline(tinyRecorded(), 2)!;
  assertEquals(bucketed.points.map((p) => [p.ms, p.bytes]), [[100, 5000], [200, 9000], [
    300,
    8000,
  ]]);
});

Deno.test("isAllocatorFrame() knows the malloc family, operator new and the recorder", () => {
  const f = (fn?: string, image?: string) => ({ pc: "0x1", function: fn, image });
  for (
    const fn of [
      "malloc",
      "__libc_calloc",
      "__GI___libc_realloc",
      "operator new[](unsigned long)",
      "_Znwm",
      "strdup",
      "hs_alloc",
    ]
  ) {
    assert(isAllocatorFrame(f(fn)), fn);
  }
  assert(isAllocatorFrame(f(undefined, "/x/librecorder.so")));
  for (const fn of ["malloc_table_init", "new_session", "parse", "mallocx_wrapper"]) {
    assert(!isAllocatorFrame(f(fn)), fn);
  }
  assertEquals(meaningfulFrame([f("malloc"), f("calloc")])!.function, "malloc");
  assertEquals(meaningfulFrame([]), undefined);
  assertEquals(
    [formatDuration(0.42), formatDuration(850), formatDuration(12_345), formatDuration(300_000)],
    ["0.4 ms", "850 ms", "12.3 s", "5.0 min"],
  );
});

Deno.test("sampleLeaks({ withSites }) gives consistent v2 site data with a fixed top site", () => {
  const leaks = sampleLeaks({ allocations: 3000, leakFraction: 0.08, withSites: true });
  const m = selectReportModel(leaks);
  assertEquals(m.sites!.rows[0]!.label, "parse_request");
  assertEquals(m.sites!.rows[0]!.location, "server.c:214");
  let leakedOnSites = 0;
  for (const r of leaks.sites!) leakedOnSites += r.leakedCount;
  const recordedLeaks = leaks.nodes.filter((n) => n.status !== "reachable" && n.site !== undefined);
  assertEquals(leakedOnSites, recordedLeaks.length);
  assert(m.timeline!.points.length > 100);
});
