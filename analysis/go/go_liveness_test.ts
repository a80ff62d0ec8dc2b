// Unit tests of the Go views on the sample dump: liveness states (finalizer cycle, pending
// finalizers, garbage), anchors with paths, owners, interface typing, names.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { findAnchors } from "./anchors.ts";
import { buildGoGraph, sortByAddress } from "./go_graph.ts";
import { classifyGoHeap, GO_STATE_NAMES } from "./go_liveness.ts";
import { entryLabel, findObjects, objectLine } from "./names.ts";
import { parseOidFile } from "./oid_file.ts";
import { ownersOf } from "./owners.ts";
import { parseHeapDump } from "./parse_heapdump.ts";
import { ProgramSymbols } from "./program_symbols.ts";
import { SAMPLE, sampleDump } from "./testdata/dump_writer.ts";

const symbols = new ProgramSymbols([{ name: "main.registry", address: SAMPLE.bss + 8, size: 8 }]);
const oids = parseOidFile("0xcaffe14e00000003 main.Node\n");
const graph = () => buildGoGraph(parseHeapDump(sampleDump(), { oids }), { symbols });

Deno.test("classifyGoHeap() tells anchored objects, Go's leaked cycle, finalizers and garbage", () => {
  const g = graph();
  const l = classifyGoHeap(g);
  const state = (a: number) => GO_STATE_NAMES[l.state[g.lookup(a)]!];
  assertEquals(
    Object.fromEntries(
      Object.entries(SAMPLE).filter(([k]) => !["bss", "itab", "type"].includes(k))
        .map(([k, a]) => [k, state(a)]),
    ),
    {
      global: "anchored",
      child: "anchored",
      onStack: "anchored",
      other: "anchored",
      cycleA: "leaked finalizer cycle",
      cycleB: "leaked finalizer cycle",
      keptByCycle: "kept by a leaked finalizer cycle",
      finalized: "waiting for a finalizer",
      queued: "waiting for a finalizer",
      garbage: "waiting for a finalizer", // the finalized object points into it
    },
  );
  assertEquals(l.cycles.map((c) => c.map((v) => g.nodes.address[v]).sort()), [[
    SAMPLE.cycleA,
    SAMPLE.cycleB,
  ]]);
});

Deno.test("findAnchors() names the global and the frame, with the path", () => {
  const g = graph();
  const child = findAnchors(g, g.lookup(SAMPLE.child));
  assertEquals(child.anchors.map((a) => entryLabel(a.entry)), ["BssSegment (main.registry)"]);
  assertEquals(child.anchors[0]!.path.map((v) => g.nodes.address[v]), [
    SAMPLE.global,
    SAMPLE.child,
  ]);
  assertEquals(child.anchors[0]!.offsets, [16]);
  assertEquals(child.anchors[0]!.where, SAMPLE.bss + 8);
  const stack = findAnchors(g, g.lookup(SAMPLE.onStack));
  assertEquals(stack.anchors.map((a) => entryLabel(a.entry)), ["main.holder frame (goroutine 1)"]);
  const cyc = findAnchors(g, g.lookup(SAMPLE.cycleB));
  assertEquals(cyc.anchors.map((a) => a.entry.kind), ["finalizer"]);
});

Deno.test("ownersOf() goes back to the anchors; -1 leaves out owners no root reaches", () => {
  const g = graph();
  const o = ownersOf(g, g.lookup(SAMPLE.child), -1);
  assertEquals(o.lines.map((l) => [l.depth, l.anchor ? "anchor" : g.nodes.address[l.node]]), [
    [0, SAMPLE.child],
    [1, SAMPLE.global],
    [2, "anchor"],
  ]);
  // garbage is owned by `finalized`, which no root reaches: the finalizer's root holds what its
  // object points to (garbage), never the object itself.
  const gb = ownersOf(g, g.lookup(SAMPLE.garbage), -1);
  assertEquals(
    gb.lines.map((l) => l.anchor ? g.roots.entries[l.node]!.name : g.nodes.address[l.node]),
    [SAMPLE.garbage, `finalizer of 0x${SAMPLE.finalized.toString(16)}`],
  );
  assertEquals(gb.unanchored, 1);
  assertEquals(ownersOf(g, g.lookup(SAMPLE.garbage), 1).lines.length, 3); // + finalized
});

Deno.test("buildGoGraph(): sorted nodes, finalizer flags, names from ids and interfaces", () => {
  const g = graph();
  const a = Array.from(g.nodes.address);
  assertEquals(a, [...a].sort((x, y) => x - y));
  assertEquals(g.nodes.flags[g.lookup(SAMPLE.cycleA)], 1);
  assertEquals(
    objectLine(g, g.lookup(SAMPLE.cycleA)),
    "main.Node @ 0xc000010060 with 1 pointers in 32 bytes",
  );
  // global holds an interface {itab of *main.Item, child}: child is a main.Item.
  assertEquals(g.nodes.typeNames[g.nodes.type[g.lookup(SAMPLE.child)]!], "main.Item");
  assertEquals(findObjects(g, /Node/).map((v) => g.nodes.address[v]), [
    SAMPLE.cycleA,
    SAMPLE.cycleB,
  ]);
  // Interior pointers count: the frame points 16 bytes into onStack.
  assert(g.roots.entries.some((e) => e.name === "main.holder frame"));
  assertEquals(Array.from(sortByAddress(Float64Array.from([5, 6, 1, 2, 9, 3]))), [
    2,
    3,
    5,
    0,
    1,
    4,
  ]);
});
