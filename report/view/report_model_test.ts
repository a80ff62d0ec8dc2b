// Tests of selectReportModel(): every count the report shows agrees with leaks.json, on small and
// generated files; the header of a Go heap dump; bounded payloads.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { sampleLeaks } from "../sample_leaks.ts";
import { selectReportModel } from "./report_model.ts";
import { selectHeader } from "./header.ts";
import { selectStats } from "./stats.ts";
import { selectZones } from "./zones.ts";
import { selectCycles } from "./cycles.ts";
import { buildAdjacency } from "./adjacency.ts";
import { selectMethod } from "./method.ts";
import { selectTimeline } from "./timeline.ts";
import { tiny, tinyRecorded } from "./testdata/tiny_leaks.ts";

Deno.test("selectHeader() gives the verdict, says Go heap dump for pid 0, counts embedded bytes", () => {
  const h = selectHeader(tiny());
  assertEquals([h.ok, h.verdict, h.goDump, h.bytesEmbedded], [
    false,
    "✗ 6 allocations unreachable from any root (196 KiB)",
    false,
    1,
  ]);
  const go = tiny();
  go.target.pid = 0;
  go.pauseMs = 0;
  assertEquals(selectHeader(go).goDump, true);
  const clean = sampleLeaks({ allocations: 10, leakFraction: 0 });
  assertEquals(selectHeader(clean).verdict, "✓ no leaks: all 10 allocations are reachable");
  assertEquals(selectHeader(clean).possible, undefined);
  // Possible leaks alone: not "no leaks" (the header's own colour), not counted as leaks.
  const weak = sampleLeaks({ allocations: 10, leakFraction: 0 });
  weak.summary.possible = 3;
  weak.summary.possibleBytes = 96;
  const w = selectHeader(weak);
  assertEquals([w.ok, w.possible, w.verdict], [
    true,
    true,
    "! no definite leaks; 3 possible leaks (96 B)",
  ]);
});

Deno.test("selectStats(), selectZones(), selectCycles(), selectMethod() on the tiny file", () => {
  const s = selectStats(tiny());
  assertEquals([s.direct, s.directBytes, s.indirect, s.indirectBytes], [3, 200148, 3, 516]);
  assertEquals([s.cycles, s.cycleBlocks, s.reachableBytes], [1, 2, 96]);
  assertEquals(selectZones(tiny()), [
    { zone: "mmapped", count: 1, bytes: 200000, leaked: 1, leakedBytes: 200000 },
    { zone: "main", count: 6, bytes: 460, leaked: 4, leakedBytes: 364 },
    { zone: "other", count: 1, bytes: 300, leaked: 1, leakedBytes: 300 },
  ]);
  const c = selectCycles(tiny(), buildAdjacency(tiny()));
  assertEquals(c.rows, [{ index: 0, size: 2, bytes: 64, firstAddress: "0x1500", blocks: [5, 6] }]);
  const m = selectMethod(tiny());
  assert(m.calls.some((x) => x.name === "process_vm_readv"));
  assertEquals([m.totalMs, m.warnings], [3.5, ["w1"]]);
});

Deno.test("selectTimeline() keeps peaks, puts the snapshot after the oldest block, counts recorded blocks", () => {
  const t = selectTimeline(tinyRecorded())!;
  assertEquals(t.points.map((p) => [p.ms, p.bytes]), [[0, 0], [100, 5000], [200, 9000], [
    300,
    8000,
  ]]);
  assertEquals([t.peakBytes, t.peakCount, t.samples, t.snapshotMs], [9000, 7, 4, 900]);
  assertEquals([t.recordedBlocks, t.allocations], [6, 8]);
  assertEquals(selectTimeline(tiny()), null);
});

Deno.test("selectReportModel() agrees with leaks.json in every count (3,000 recorded blocks)", () => {
  const leaks = sampleLeaks({ allocations: 3000, leakFraction: 0.08, withSites: true });
  const m = selectReportModel(leaks);
  const s = leaks.summary;
  assertEquals(
    [m.stats.allocations, m.stats.leaked, m.stats.leakedBytes, m.stats.direct, m.stats.cycles],
    [s.allocations, s.leaked, s.leakedBytes, s.direct, s.cycles],
  );
  assertEquals(m.stats.directBytes + m.stats.indirectBytes, s.leakedBytes);
  // Leak groups, the flame graph and the sites' usable bytes all total the leaked bytes.
  assertEquals(m.groups.bytes, s.leakedBytes);
  assertEquals(m.flame!.total, s.leakedBytes);
  assertEquals(m.flame!.root.value, s.leakedBytes);
  let siteUsable = 0;
  for (const r of m.sites!.rows) siteUsable += r.leakedUsableBytes;
  const leakedWithSite = leaks.nodes.filter((n) =>
    (n.status === "leaked" || n.status === "cycle") && n.site !== undefined
  );
  assertEquals(siteUsable, leakedWithSite.reduce((a, n) => a + n.size, 0));
  assertEquals(m.flame!.unrecorded, s.leakedBytes - siteUsable);
  let zoneLeaked = 0;
  for (const z of m.zones) zoneLeaked += z.leaked;
  assertEquals(zoneLeaked, s.leaked);
  assertEquals(m.cycles.total, leaks.cycles.length);
  // The top site keeps the one label of site_label.ts everywhere.
  assertEquals([m.sites!.rows[0]!.label, m.sites!.rows[0]!.location], [
    "parse_request",
    "server.c:214",
  ]);
  assertEquals(m.sites!.labels[0], "parse_request server.c:214");
  assertEquals(m.groups.groups.find((g) => g.site === 0)!.label, "parse_request");
  // The graph: capped, whole structures first, every position finite and no two nodes on one spot.
  assertEquals(m.graph.nodes.length, 2000);
  const leakedDrawn = m.graph.nodes.filter((n) => n.status !== "reachable").length;
  assert(leakedDrawn >= Math.min(s.leaked, 1400) * 0.95, `${leakedDrawn} leaked drawn`);
  const spots = new Set(m.graph.nodes.map((n) => `${n.x},${n.y}`));
  assert(spots.size >= m.graph.nodes.length * 0.99, `${spots.size} distinct positions`);
  assert(m.graph.nodes.every((n) => Number.isFinite(n.x) && Number.isFinite(n.y)));
  assert(m.graph.regions.some((r) => r.kind === "reachable"));
  assert(m.timeline!.points.length > 100);
});

Deno.test("selectReportModel() of a file without sites has no sites, timeline or flame graph", () => {
  const m = selectReportModel(tiny());
  assertEquals([m.sites, m.timeline, m.flame, m.types, m.retainers], [
    null,
    null,
    null,
    null,
    null,
  ]);
  assertEquals(m.graph.nodes.length, 8);
  assertEquals(m.roots.map((r) => [r.block, r.label]), [[
    0,
    "stack slot 0x7ffc00000000 of thread 1",
  ]]);
});

Deno.test("selectReportModel() shows the why-alive tables: types, retainers, named roots, type and retained", () => {
  const leaks = tiny();
  leaks.types = [
    {
      name: "struct node",
      count: 3,
      bytes: 400,
      leakedCount: 2,
      leakedBytes: 300,
      possibleCount: 0,
      possibleBytes: 0,
    },
    {
      name: "char[]",
      count: 5,
      bytes: 200260,
      leakedCount: 4,
      leakedBytes: 200364,
      possibleCount: 0,
      possibleBytes: 0,
    },
  ];
  leaks.nodes[0]!.type = 0;
  leaks.nodes[0]!.retained = 96;
  leaks.nodes[1]!.idom = leaks.nodes[0]!.id;
  leaks.nodes[0]!.heldBy = 0;
  leaks.roots[0]!.name = "g_registry+0x8 in ./server";
  leaks.retainers = [{ node: -1, holder: 0, name: "g_registry in ./server", bytes: 96, blocks: 2 }];
  const m = selectReportModel(leaks);
  assertEquals(m.types!.map((t) => [t.type, t.reachableCount]), [["char[]", 1], [
    "struct node",
    1,
  ]]);
  assertEquals(m.retainers!.length, 1);
  assertEquals(m.retainers![0]!.label, "g_registry in ./server");
  assertEquals(m.retainers![0]!.children.map((c) => [c.block, c.label]), [[
    0,
    "struct node 0x1000",
  ]]);
  assertEquals(m.retainers![0]!.children[0]!.children.map((c) => c.block), [1]);
  assertEquals(m.roots[0]!.label, "g_registry+0x8 in ./server");
  const drawn = m.graph.nodes.find((n) => n.block === 0)!;
  assertEquals([drawn.type, drawn.retained], ["struct node", 96]);
});

Deno.test("selectReportModel() of 200,000 blocks stays bounded: 2,000 drawn, rows capped by options", () => {
  const leaks = sampleLeaks({ allocations: 200_000 });
  const m = selectReportModel(leaks, { maxLeakRows: 1000 });
  assertEquals(m.graph.nodes.length, 2000);
  assertEquals(m.graph.notDrawn, 198_000);
  assertEquals(m.groups.listed, 1000);
  assertEquals(m.groups.bytes, leaks.summary.leakedBytes);
  assert(JSON.stringify(m).length < 3_000_000);
});
