// Tests for the phases after enumeration, on a snapshot laid out by hand.
import { deepEqual as assertEquals } from "node:assert/strict";
import { analyzeHeap } from "./analyze.ts";
import { LEAK_KIND, NODE_STATUS } from "./types.ts";
import { buildSynthetic as build } from "./testdata/synthetic.ts";

Deno.test("analyzeHeap() finds reachable, direct, indirect and cycle blocks", () => {
  const { snapshot, enumeration, names } = build();
  const a = analyzeHeap(snapshot, enumeration);
  const by = Object.fromEntries(
    names.map((n, i) => [n, `${NODE_STATUS[a.status[i]!]}/${LEAK_KIND[a.leak[i]!] ?? "-"}`]),
  );
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
