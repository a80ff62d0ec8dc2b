// Tests of selectLeakGroups(): grouped like the CLI, held structures that add up to the leaked total.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { formatBytes } from "../format.ts";
import { sampleLeaks } from "../sample_leaks.ts";
import { buildAdjacency } from "./adjacency.ts";
import { selectLeakGroups, selectPossible } from "./leak_groups.ts";
import { analyzeHeap } from "../../analysis/analyze.ts";
import { buildWeakHeld } from "../../analysis/testdata/synthetic.ts";
import { leaksJsonChunks } from "../leaks_json.ts";
import { parseLeaksText } from "../read_leaks.ts";
import { formatSummary } from "../summary.ts";
import { tiny, tinyRecorded } from "./testdata/tiny_leaks.ts";

const noLabel = (s: number) => ({ label: `site ${s}`, location: "" });

Deno.test("selectLeakGroups() groups by size and zone without sites, and the groups add up", () => {
  const leaks = tiny();
  const g = selectLeakGroups(leaks, buildAdjacency(leaks), noLabel);
  assertEquals(
    g.groups.map((x) => [x.label, x.zone, x.inCycle, x.count, x.blocks, x.bytes]),
    [
      [`${formatBytes(200000)} blocks`, "mmapped", false, 1, 1, 200000],
      ["100 B blocks", "main", false, 1, 3, 600], // 2 → 3 → 4 (4 → 1 leaves leaked memory)
      ["48 B blocks", "main", true, 1, 2, 64], // the ring nobody holds
    ],
  );
  assertEquals(g.bytes, leaks.summary.leakedBytes);
  assertEquals([g.direct, g.listed], [3, 3]);
  // A v3 file's `held` is taken as written.
  leaks.nodes[2]!.held = { blocks: 9, bytes: 999 };
  for (const i of [5, 7]) leaks.nodes[i]!.held = { blocks: 1, bytes: leaks.nodes[i]!.size };
  const held = selectLeakGroups(leaks, buildAdjacency(leaks), noLabel);
  assertEquals(held.groups.find((x) => x.label === "100 B blocks")!.bytes, 999);
});

Deno.test("selectLeakGroups() groups a recorded process by site and labels groups by site", () => {
  const leaks = tinyRecorded();
  const g = selectLeakGroups(
    leaks,
    buildAdjacency(leaks),
    (s) => ({ label: `fn${s}`, location: `f.c:${s}` }),
  );
  assertEquals(g.groups.map((x) => [x.by, x.label, x.location, x.count]), [
    ["site", "fn2", "f.c:2", 1],
    ["site", "fn0", "f.c:0", 1],
    ["size", "48 B blocks", "", 1],
  ]);
  assertEquals(g.bytes, leaks.summary.leakedBytes);
});

Deno.test("selectLeakGroups() on 20,000 blocks: every direct leak listed once, bytes = leaked total, rows capped", () => {
  const leaks = sampleLeaks({ allocations: 20_000, withSites: true, leakFraction: 0.1 });
  const adj = buildAdjacency(leaks);
  const g = selectLeakGroups(leaks, adj, noLabel);
  assertEquals(g.bytes, leaks.summary.leakedBytes);
  assertEquals(g.direct, leaks.summary.direct);
  const rows = g.groups.flatMap((x) => x.rows);
  assertEquals(rows.length, leaks.summary.direct);
  assertEquals(new Set(rows.map((r) => r.block)).size, rows.length);
  let blocks = 0;
  for (const x of g.groups) blocks += x.blocks;
  assertEquals(blocks, leaks.summary.leaked);
  for (let i = 1; i < g.groups.length; i++) assert(g.groups[i - 1]!.bytes >= g.groups[i]!.bytes);
  const capped = selectLeakGroups(leaks, adj, noLabel, 10);
  assertEquals(capped.listed, 10);
  assertEquals(capped.bytes, leaks.summary.leakedBytes, "the totals count every row");
});

Deno.test("selectPossible() groups a leaks file's possible blocks as the CLI's summary does, every block or leaked ones", () => {
  // Weak words in A's tail to O (which holds K) and X (a self loop).
  const { snapshot, enumeration, at } = buildWeakHeld(["O", "X"]);
  const a = analyzeHeap(snapshot, enumeration);
  const cli = formatSummary(a, { outputs: [] }).split("\n");
  const listed = cli.slice(
    cli.indexOf(
      "possible structures (only weak evidence keeps them: leaks if it is stale)",
    ) + 1,
  ).filter((l) => l.startsWith("  ") && /blocks?, /.test(l));
  for (const graph of ["all", "leaked"] as const) {
    const decoder = new TextDecoder();
    let json = "";
    for (const c of leaksJsonChunks(a, { graph })) json += decoder.decode(c, { stream: true });
    const file = parseLeaksText(json, "leaks.json");
    const rows = selectPossible(file, buildAdjacency(file));
    const hex = (n: string) => `0x${at[n]!.toString(16)}`;
    assertEquals(rows.map((r) => [r.blocks, r.bytes, r.address]), [
      [2, 112, hex("O")],
      [1, 56, hex("X")],
    ], graph);
    for (const r of rows) assertEquals(file.nodes[r.entry]!.address, r.address);
    // The same lines as the CLI's.
    assertEquals(
      rows.map((r) =>
        `  ${r.blocks} block${r.blocks === 1 ? "" : "s"}, ${
          formatBytes(r.bytes)
        }, ${r.kept}; e.g. at ${r.address}`
      ),
      listed,
      graph,
    );
  }
  // And through the report's payload, capped.
  let json = "";
  const decoder = new TextDecoder();
  for (const c of leaksJsonChunks(a, { graph: "all" })) json += decoder.decode(c, { stream: true });
  const file = parseLeaksText(json, "leaks.json");
  const label = () => ({ label: "", location: "" });
  const payload = selectLeakGroups(file, buildAdjacency(file), label, 10, 1);
  assertEquals(payload.possible.length, 1);
  assertEquals(payload.possibleOmitted, 1);
});
