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

Deno.test("analyzeHeap() weakens the tail of a block glibc may have handed out whole (its foot)", () => {
  // A (56 B, reachable) holds a pointer to O at +0x20 (O is leaked without it). A 56-byte block
  // is a 64-byte chunk; with the chunk's size in its last word (glibc's foot: it came whole from
  // a bin, maybe for a request of 25 bytes), the words from +0x20 may be its earlier life's.
  const status = (foot: boolean) => {
    const { snapshot, enumeration, at, names } = build();
    const heap = new DataView(snapshot.memory[1]!.bytes.buffer);
    const base = snapshot.memory[1]!.start;
    heap.setBigUint64(at.A! - base + 0x20, BigInt(at.O!), true);
    if (foot) heap.setBigUint64(at.A! - base + 0x30, 64n, true);
    const a = analyzeHeap(snapshot, enumeration);
    return ["O", "K"].map((n) => NODE_STATUS[a.status[names.indexOf(n as "O")]!]);
  };
  assertEquals(status(false), ["reachable", "reachable"]);
  assertEquals(status(true), ["possible", "possible"]);
});

Deno.test("analyzeHeap() weakens the word a C string's NUL lies in (a stale pointer's low byte)", () => {
  // A holds "abcdefgh" and its NUL at +8, the NUL the low byte of a stale word that points into
  // K (K's range holds an address ending in 00): that word is not the program's.
  const { snapshot, enumeration, at, names } = build();
  const heap = new DataView(snapshot.memory[1]!.bytes.buffer);
  const base = snapshot.memory[1]!.start;
  const inK = Math.ceil(at.K! / 256) * 256;
  assertEquals(inK < at.K! + 0x38, true);
  new TextEncoder().encode("abcdefgh").forEach((c, i) => heap.setUint8(at.A! - base + i, c));
  heap.setBigUint64(at.A! - base + 8, BigInt(inK), true);
  const a = analyzeHeap(snapshot, enumeration);
  assertEquals(NODE_STATUS[a.status[names.indexOf("K")]!], "possible");
});

Deno.test("analyzeHeap() ends with the type column in its final form: -1 for every untyped block", () => {
  const { snapshot, enumeration } = build();
  const a = analyzeHeap(snapshot, enumeration);
  // The types were made sparse (id + 1) and finished when the leaked blocks were known.
  assertEquals(Array.from(a.graph.nodes.type).every((t) => t === -1), true);
  assertEquals(a.graph.nodes.typeNames, []);
});
