// Tests of the card's selectors: node detail with its path, the neighbourhood of an undrawn block,
// the heap map, the visible set, hexdump, export, site labels and the layout.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { sampleLeaks } from "../sample_leaks.ts";
import { buildAdjacency } from "./adjacency.ts";
import { buildBlockIndex } from "./block_index.ts";
import { MAP_CLASSES, selectHeapMap } from "./heap_map.ts";
import { hexdump } from "./hexdump.ts";
import { selectNeighbourhood } from "./neighbourhood.ts";
import { selectNodeDetail } from "./node_detail.ts";
import type { GraphNode } from "./payload.ts";
import { selectReportModel } from "./report_model.ts";
import { siteLabels } from "./site_label.ts";
import { toCsv, toJson } from "./table_export.ts";
import { tiny, tinyRecorded } from "./testdata/tiny_leaks.ts";
import { normalizeAddressQuery, selectVisible } from "./visible.ts";

function context(leaks = tiny(), drawnBlocks?: number[]) {
  const m = selectReportModel(leaks);
  const index = buildBlockIndex(leaks, buildAdjacency(leaks));
  const drawn = new Map<number, GraphNode>();
  for (const n of m.graph.nodes) {
    if (!drawnBlocks || drawnBlocks.includes(n.block)) drawn.set(n.block, n);
  }
  const roots = new Map(m.roots.map((r) => [r.block, [r]]));
  const held = new Map<number, { blocks: number; bytes: number }>();
  for (const g of m.groups.groups) {
    for (const r of g.rows) held.set(r.block, { blocks: r.heldBlocks, bytes: r.heldBytes });
  }
  return {
    m,
    index,
    ctx: { index, drawn, sites: m.sites, roots, held, weakLinks: m.weakLinks ?? {} },
  };
}

Deno.test("selectNodeDetail() gives a reachable block's path from its root, with offsets", () => {
  const leaks = tiny();
  leaks.nodes[1]!.via = leaks.nodes[0]!.id; // the flood fill reached 1 through 0
  const { ctx } = context(leaks);
  const d = selectNodeDetail(ctx, 1)!;
  assertEquals(d.pathFrom, "root");
  assertEquals(d.path.map((s) => [s.address, s.offset]), [["0x1000", 8], ["0x1100", undefined]]);
  assertEquals(d.pathRoot?.label, "stack slot 0x7ffc00000000 of thread 1");
  assertEquals(d.inEdges.map((e) => e.address).sort(), ["0x1000", "0x1400"]);
  assertEquals(d.path[0]!.weak, undefined);
});

Deno.test("selectNodeDetail() marks the weak link of a possible block's path", () => {
  const leaks = tiny();
  const [a, b] = [leaks.nodes[0]!, leaks.nodes[1]!];
  b.status = "possible";
  b.via = a.id;
  const edge = leaks.edges.find((e) => e.source === a.id && e.target === b.id)!;
  edge.weak = true;
  b.weakLink = "a pool's spare part";
  const d = selectNodeDetail(context(leaks).ctx, 1)!;
  assertEquals(d.path.map((s) => [s.address, s.offset, s.weak, s.reason]), [
    ["0x1000", edge.offset, true, "a pool's spare part"],
    ["0x1100", undefined, undefined, undefined],
  ]);
  // With a strong pointer beside it, the path takes the strong one.
  leaks.edges.push({ source: a.id, target: b.id, offset: 0x30 });
  b.status = "reachable";
  const strong = selectNodeDetail(context(leaks).ctx, 1)!;
  assertEquals([strong.path[0]!.offset, strong.path[0]!.weak], [0x30, undefined]);
});

Deno.test("selectNodeDetail() leads an indirect leak back to its direct leak; a direct leak holds", () => {
  const { ctx } = context();
  const d = selectNodeDetail(ctx, 4)!;
  assertEquals(d.label, "indirect leak");
  assertEquals(d.pathFrom, "direct leak");
  assertEquals(d.path.map((s) => [s.address, s.offset]), [["0x1200", 0], ["0x1300", 16], [
    "0x1400",
    undefined,
  ]]);
  const direct = selectNodeDetail(ctx, 2)!;
  assertEquals([direct.pathFrom, direct.held], ["none", { blocks: 3, bytes: 600 }]);
  assertEquals(
    direct.hexdump[0],
    "+000  68 65 6c 6c 6f 00 00 00 00 00 00 00 00 00 00 00  |hello...........|",
  );
  assertEquals(selectNodeDetail(ctx, 5)!.label, "direct leak, in a cycle");
  assertEquals(selectNodeDetail({ ...ctx, index: null, drawn: new Map() }, 3), null);
});

Deno.test("selectNodeDetail() of a recorded block names its site with the one label", () => {
  const { ctx } = context(tinyRecorded());
  const d = selectNodeDetail(ctx, 2)!;
  assertEquals(d.stack?.label, "parse p.c:12");
  assertEquals([d.stack?.thread, d.stack?.ageMs], [11, 900]);
  assert(d.stack!.frames![0]!.alloc, "malloc is marked as the allocator's frame");
});

Deno.test("selectNeighbourhood() draws an undrawn block with its path to the drawn graph and its edges", () => {
  const leaks = sampleLeaks({ allocations: 20_000, withBytes: false });
  const m = selectReportModel(leaks, { maxNodes: 300 });
  const index = buildBlockIndex(leaks, buildAdjacency(leaks));
  const drawn = new Map(m.graph.nodes.map((n) => [n.block, { x: n.x, y: n.y }]));
  const b = leaks.nodes.findIndex((n, i) => n.status === "reachable" && !drawn.has(i) && i > 5000);
  const more = selectNeighbourhood(index, b, drawn);
  const blocks = more.nodes.map((n) => n.block);
  assert(blocks.includes(b));
  assertEquals(new Set(blocks).size, blocks.length);
  assert(blocks.every((x) => !drawn.has(x)), "only new blocks are added");
  // The path reaches a drawn block or a root: its first new block's holder is drawn or absent.
  const outer = more.nodes[0]!.block;
  assert(index.via[outer]! < 0 || drawn.has(index.via[outer]!));
  assert(more.links.some((l) => l.target === b || l.source === b));
  assert(more.nodes.every((n) => Number.isFinite(n.x) && Number.isFinite(n.y)));
  assertEquals(selectNeighbourhood(index, m.graph.nodes[0]!.block, drawn).nodes, []);
});

Deno.test("selectHeapMap() paints headers, blocks, leaks and free space in address order", () => {
  const leaks = tiny();
  const index = buildBlockIndex(leaks, buildAdjacency(leaks));
  const map = selectHeapMap(index, "main", 64, 64)!;
  assertEquals(map.scale, 1);
  const count = (cls: string) => map.pixels.filter((p) => MAP_CLASSES[p] === cls).length;
  // main: blocks at 0x1000 (64), 0x1100 (32), 0x1200 (100), 0x1300 (200), 0x1500 (48), 0x1600 (16).
  assertEquals(count("reachable"), 64 + 32);
  assertEquals(count("leaked"), 100 + 200);
  assertEquals(count("cycle"), 48 + 16);
  assertEquals(count("header"), 6 * 16);
  // The first header is pixel 0, the first block's bytes follow.
  assertEquals([MAP_CLASSES[map.pixels[0]!], MAP_CLASSES[map.pixels[16]!]], [
    "header",
    "reachable",
  ]);
  assertEquals(map.blocks[16], 0);
  // A zone too big for the pixels doubles the bytes per pixel.
  const small = selectHeapMap(index, "main", 16, 16)!;
  assert(small.scale > 1 && small.height <= 16);
  assertEquals(selectHeapMap(index, "none"), null);
});

Deno.test("selectVisible() filters, narrows to a zone or site, and searches addresses", () => {
  const m = selectReportModel(tiny());
  const g = m.graph;
  const v = (
    filter: "all" | "leaked" | "cycle" | "reachable",
    zone: string | null = null,
    search = "",
  ) => selectVisible(g, { filter, zone, search }).counts;
  assertEquals(v("all"), { reachable: 2, leaked: 4, cycle: 2, possible: 0 });
  assertEquals(v("leaked"), { reachable: 0, leaked: 4, cycle: 2, possible: 0 });
  assertEquals(v("cycle"), { reachable: 0, leaked: 0, cycle: 2, possible: 0 });
  assertEquals(v("all", "other"), { reachable: 0, leaked: 1, cycle: 0, possible: 0 });
  const found = selectVisible(g, { filter: "all", zone: null, search: " 0X14 " });
  assertEquals(found.matches.map((i) => g.nodes[i]!.address), ["0x1400"]);
  assertEquals(normalizeAddressQuery("zzz"), "");
});

Deno.test("hexdump(), toCsv() and toJson() format what the card and the exports show", () => {
  assertEquals(hexdump("41x42"), ["+000  41 42" + " ".repeat(42) + "  |AB|"]);
  const cols = [
    { key: "a", label: "name", value: (r: { a: string; n: number }) => r.a },
    { key: "n", label: "bytes", value: (r: { a: string; n: number }) => r.n },
  ];
  const rows = [{ a: 'say "hi", ok', n: 3 }, { a: "=cmd()", n: -1 }];
  assertEquals(toCsv(cols, rows), 'name,bytes\r\n"say ""hi"", ok",3\r\n"\'=cmd()",-1\r\n');
  assertEquals(JSON.parse(toJson(cols, rows)), [{ a: 'say "hi", ok', n: 3 }, {
    a: "=cmd()",
    n: -1,
  }]);
});

Deno.test("siteLabels() tells apart two allocations on one line and folds library frames", () => {
  const f = (fn: string, pc: string, extra: object = {}) => ({
    pc,
    function: fn,
    image: "/bin/p",
    ...extra,
  });
  const stacks = [
    [
      f("malloc", "0x1"),
      f("leak_pair", "0x40", { file: "/s/prog.c", line: 22, column: 9, offset: 18 }),
    ],
    [
      f("malloc", "0x2"),
      f("leak_pair", "0x50", { file: "/s/prog.c", line: 22, column: 22, offset: 34 }),
    ],
    [
      f("operator new(unsigned long)", "0x3"),
      f("std::vector<int>::_M_realloc_insert(int&&)", "0x4", {
        file: "/usr/include/c++/12/bits/vector.tcc",
        line: 440,
      }),
      f("make_tree(int)", "0x5", { file: "/s/tree.cc", line: 49 }),
    ],
  ];
  const l = siteLabels(stacks, [0, 1, 2]);
  assertEquals([l.get(0)!.label, l.get(0)!.location], ["leak_pair+0x12", "prog.c:22:9"]);
  assertEquals([l.get(1)!.label, l.get(1)!.location], ["leak_pair+0x22", "prog.c:22:22"]);
  assertEquals([l.get(2)!.label, l.get(2)!.location, l.get(2)!.via], [
    "make_tree(int)",
    "tree.cc:49",
    "via 1 std:: frame",
  ]);
});
