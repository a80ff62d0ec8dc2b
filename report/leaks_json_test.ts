// Tests for the leaks.json writer and the text summary, on the hand-laid synthetic heap.
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { releaseMemory } from "../analysis/analyze.ts";
import { analyzeHeap } from "../analysis/analyze.ts";
import { buildSynthetic, heapOf } from "../analysis/testdata/synthetic.ts";
import { rng } from "../analysis/testdata/graphs.ts";
import { AllocationTable } from "../analysis/allocation_table.ts";
import {
  heldTotals,
  leaksJsonChunks,
  type LeaksJsonOptions,
  retainersOf,
  selectNodes,
  summarize,
  toLeaksFile,
} from "./leaks_json.ts";
import {
  type Analysis,
  STATUS_LEAKED,
  STATUS_POSSIBLE,
  STATUS_REACHABLE,
} from "../analysis/types.ts";
import { edgeSources } from "../analysis/scan.ts";
import { formatSummary } from "./summary.ts";

/** The streamed file as text (the writer yields bytes). */
function leaksJsonText(a: Parameters<typeof leaksJsonChunks>[0], opts: LeaksJsonOptions = {}) {
  const dec = new TextDecoder();
  let text = "";
  for (const chunk of leaksJsonChunks(a, opts)) text += dec.decode(chunk, { stream: true });
  return text + dec.decode();
}

function analysis() {
  const { snapshot, enumeration, names } = buildSynthetic();
  return { a: analyzeHeap(snapshot, enumeration), names };
}

Deno.test("toLeaksFile() writes the format with every node, edge, cycle and root", () => {
  const { a, names } = analysis();
  const f = toLeaksFile(a);
  assertEquals(f.format, "heapscope-leaks");
  assertEquals(f.version, 3);
  assertEquals(f.summary, {
    allocations: 11,
    bytes: 11 * 0x38,
    reachable: 4,
    leaked: 7,
    leakedBytes: 7 * 0x38,
    direct: 4,
    indirect: 3,
    cycles: 2,
    possible: 0,
    possibleBytes: 0,
  });
  assertEquals(f.nodes.length, 11);
  const c = f.nodes[names.indexOf("C")]!;
  assertEquals(c.status, "leaked");
  assertEquals(c.leak, "direct");
  assertEquals(c.address, "0x" + (0x5555_5555_9010 + 2 * 0x40).toString(16));
  assertEquals(c.bytes?.length, 0x38 * 2);
  assertEquals(f.nodes[names.indexOf("B")]!.via, names.indexOf("A"));
  assertEquals(f.edges.length, 6);
  assertEquals(f.cycles.length, 2);
  assertEquals(f.roots.map((r) => r.kind).sort(), ["data", "register", "stack"]);
  assertEquals(f.roots.find((r) => r.kind === "register")!.address, "rbx");
});

Deno.test("toLeaksFile() with graph 'leaked' keeps leaked blocks and their context, and counts the rest", () => {
  const { a } = analysis();
  const f = toLeaksFile(a, { graph: "leaked" });
  assertEquals(f.nodes.every((n) => n.status !== "reachable"), true);
  assertEquals(f.nodes.length, 7);
  assertEquals(f.omitted, { nodes: 4, bytes: 4 * 0x38, edges: 1 });
  const ids = new Set(f.nodes.map((n) => n.id));
  assert(f.edges.every((e) => ids.has(e.source) && ids.has(e.target)));
});

Deno.test("formatSummary() states counts, the biggest direct leaks and the verdict", () => {
  const { a } = analysis();
  const f = toLeaksFile(a);
  const text = formatSummary(a, { outputs: [{ label: "json", path: "leaks.json" }] });
  assert(text.includes("leaked        7 blocks, 392 B (4 direct, 3 indirect)"), text);
  assert(text.includes("cycles        1") === false);
  assert(text.includes("cycles        2"));
  // Grouped like LeakSanitizer: same size, zone and cycle membership; biggest held bytes first.
  const lines = text.split("\n").filter((l) => l.includes("direct leak"));
  assertEquals(lines, [
    "  2 direct leaks of 56 B [main-arena, in a cycle], holding 2 more (224 B in all), e.g. at 0x5555555590d0",
    "  2 direct leaks of 56 B [main-arena], holding 1 more (168 B in all), e.g. at 0x555555559090",
  ]);
  // Every leaked block is counted under one direct leak: the lines add up to the total.
  const held = f.nodes.filter((n) => n.leak === "direct").map((n) => n.held!);
  assertEquals(held.reduce((s, h) => s + h.blocks, 0), 7);
  assertEquals(held.reduce((s, h) => s + h.bytes, 0), 7 * 0x38);
  const one = formatSummary(a, { outputs: [], top: 1 });
  assert(
    one.includes("  ... 2 more direct leaks (168 B in all) omitted (see --top and the JSON)"),
    one,
  );
  assert(text.endsWith("✗ 7 allocation(s) unreachable from any root"));
});

Deno.test("formatSummary() shows a hostile command's escape sequences as text", () => {
  const { snapshot, enumeration } = buildSynthetic();
  snapshot.command = "evil\x1b]0;pwned\x07\x1b[2J\nrm -rf /";
  const text = formatSummary(analyzeHeap(snapshot, enumeration), { outputs: [] });
  const first = text.split("\n")[0]!;
  assertEquals(
    first,
    "target        pid 1 (evil\\x1b]0;pwned\\x07\\x1b[2J rm -rf /), linux x86_64, test",
  );
  const controls = [...text].filter((ch) => ch.charCodeAt(0) < 0x20 && ch !== "\n");
  assertEquals(controls, []);
});

Deno.test("toLeaksFile() builds the same file as the streamed JSON, for both graph modes", () => {
  const { a } = analysis();
  for (const graph of ["all", "leaked"] as const) {
    const streamed = JSON.parse(leaksJsonText(a, { graph }));
    assertEquals(toLeaksFile(a, { graph }), streamed);
  }
});

Deno.test("leaksJsonChunks() writes the same leaked bytes after releaseMemory()", () => {
  const { a } = analysis();
  const before = leaksJsonText(a);
  releaseMemory(a);
  assertEquals(a.snapshot.memory.length, 0);
  assertEquals(leaksJsonText(a), before);
  assert(before.includes('"bytes":"'));
});

Deno.test("leaksJsonChunks() writes exactly JSON.stringify(toLeaksFile()), non-ASCII and escapes included", () => {
  const { snapshot, enumeration } = buildSynthetic();
  snapshot.command = 'prog "ü" \\ \n\t\x01 — 🙂 \ud800';
  const t = enumeration.allocations;
  const zones = ['arena "α"\\\n', "zone 🙂\x1f", "mmap \ud83d"];
  const zoneIds = t.zoneIds.map((_, i) => i % zones.length);
  enumeration.allocations = new AllocationTable(t.addresses, t.sizes, zoneIds, zones);
  enumeration.warnings.push("warn ü\u2028");
  const a = analyzeHeap(snapshot, enumeration);
  for (const graph of ["all", "leaked"] as const) {
    const expected = new TextEncoder().encode(JSON.stringify(toLeaksFile(a, { graph })) + "\n");
    for (const chunkBytes of [1, 100, 9000, 1 << 20]) {
      const parts: Uint8Array[] = [];
      // Each chunk is a view of a reused buffer: copy before asking for the next.
      for (const c of leaksJsonChunks(a, { graph, chunkBytes })) parts.push(c.slice());
      const got = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of parts) got.set(p, (off += p.length) - p.length);
      assertEquals(got, expected, `graph ${graph}, chunks of ${chunkBytes}`);
    }
    assertEquals(leaksJsonText(a, { graph }), new TextDecoder().decode(expected));
  }
});

/**
 * 3000 blocks of 32 pointer words: the first half only into the first half (reachable from a
 * global), the second half into the second half and the first 100 blocks (leaked; those 100 are
 * kept as their context, the other 1400 and their edges are left out). ~48,000 kept edges.
 */
function denseAnalysis() {
  const base = 0x5555_0000_0000, data = 0x4000_0000, n = 3000, size = 256;
  const random = rng(7);
  const addresses = Array.from({ length: n }, (_, i) => base + 16 + i * (size + 16));
  const heapBytes = new Uint8Array(n * (size + 16) + 16);
  const view = new DataView(heapBytes.buffer);
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < size / 8; w++) {
      const t = i < n / 2
        ? Math.floor(random() * n / 2)
        : random() < 0.9
        ? n / 2 + Math.floor(random() * n / 2)
        : Math.floor(random() * 100);
      view.setBigUint64(addresses[i]! - base + 8 * w, BigInt(addresses[t]!), true);
    }
  }
  const globals = new Uint8Array(4096);
  new DataView(globals.buffer).setBigUint64(0, BigInt(addresses[0]!), true);
  const { snapshot, heap } = heapOf(
    "dense",
    base,
    base + heapBytes.length,
    [{ start: data, bytes: globals }, { start: base, bytes: heapBytes }],
    addresses,
    addresses.map(() => size),
  );
  snapshot.regions.unshift({
    start: data,
    end: data + 4096,
    perms: "rw-p",
    offset: 0,
    inode: 1,
    path: "/bin/dense",
  });
  snapshot.images = [{
    path: "/bin/dense",
    bias: 0,
    writable: [{ start: data, end: data + 4096 }],
  }];
  heap.heapRanges = [{ start: base, end: base + heapBytes.length }]; // not a root
  return analyzeHeap(snapshot, heap);
}

Deno.test("leaksJsonChunks() with graph 'leaked' walks only the kept blocks' edges: the same bytes as toLeaksFile()", () => {
  // ~48,000 kept edges, so that small chunks fill in the middle of a block's edges.
  const a = denseAnalysis();
  const expected = new TextEncoder().encode(
    JSON.stringify(toLeaksFile(a, { graph: "leaked" })) + "\n",
  );
  const file = JSON.parse(new TextDecoder().decode(expected));
  assert(file.omitted.nodes > 0 && file.omitted.edges > 0, JSON.stringify(file.omitted));
  assert(file.edges.length > 40_000, `${file.edges.length} edges written`);
  for (const chunkBytes of [1, 100, 9000, 1 << 20]) {
    const parts: Uint8Array[] = [];
    for (const c of leaksJsonChunks(a, { graph: "leaked", chunkBytes })) parts.push(c.slice());
    const got = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
    let off = 0;
    for (const p of parts) got.set(p, (off += p.length) - p.length);
    assertEquals(got, expected, `chunks of ${chunkBytes}`);
  }
});

Deno.test("selectNodes('leaked'): every block not reachable and each one's targets, by its edges or by the edge lists", () => {
  // 2000 blocks, 0-3 edges each to random blocks: most targets have one edge into them, so that a
  // missed edge shows.
  const random = rng(5), n = 2000;
  const start = new Uint32Array(n + 1), targets: number[] = [];
  for (let v = 0; v < n; v++) {
    for (let k = random() * 4 | 0; k > 0; k--) targets.push(random() * n | 0);
    start[v + 1] = targets.length;
  }
  const target = Uint32Array.from(targets);
  const status = Uint8Array.from(
    { length: n },
    () => random() < 0.7 ? STATUS_REACHABLE : random() < 0.5 ? STATUS_LEAKED : STATUS_POSSIBLE,
  );
  const a = {
    status,
    graph: { edges: { start, target } },
    edgeSource: edgeSources(start),
    edgeTarget: target,
  } as unknown as Analysis;
  const want = new Uint8Array(n);
  for (let v = 0; v < n; v++) if (status[v] !== STATUS_REACHABLE) want[v] = 1;
  for (let e = 0; e < target.length; e++) {
    if (status[a.edgeSource[e]!] !== STATUS_REACHABLE) want[target[e]!] = 1;
  }
  assertEquals(selectNodes(a, "leaked"), want); // by the graph's CSR
  // Edge lists that are not the graph's own: read pair by pair.
  assertEquals(selectNodes({ ...a, edgeTarget: target.slice() }, "leaked"), want);
  assertEquals(selectNodes(a, "all"), new Uint8Array(n).fill(1));
});

Deno.test("retainersOf(): the holders and the k biggest shared blocks, for any k in any order", () => {
  const base = denseAnalysis();
  const n = base.status.length, random = rng(11);
  // Dominator arrays laid by hand: about a third of the blocks shared (idom -1, no holder), sizes
  // from a short list so that many tie (the lower address first).
  const idom = Int32Array.from({ length: n }, () => random() < 0.4 ? -1 : 0);
  const heldBy = Int32Array.from({ length: n }, () => random() < 0.2 ? 0 : -1);
  const retained = Float64Array.from(
    { length: n },
    () => [16, 48, 4096, 100_000][random() * 4 | 0]!,
  );
  const retainedCount = Uint32Array.from({ length: n }, () => 1 + (random() * 9 | 0));
  const holders = [{ name: "g_cache", bytes: 100_000, blocks: 3 }, {
    name: "stack of main",
    bytes: 4096,
    blocks: 1,
  }];
  const analysis = () => ({ ...base, idom, heldBy, retained, retainedCount, holders }) as Analysis;
  const address = base.graph.nodes.address;
  const reference = (k: number) => {
    const shared = [...idom.keys()].filter((v) => idom[v] === -1 && heldBy[v] === -1)
      .sort((x, y) => retained[y]! - retained[x]! || address[x]! - address[y]!).slice(0, k);
    const rows = [
      ...holders.map((h, i) => ({ node: -1, holder: i, ...h })),
      ...shared.map((v) => ({
        node: v,
        name: `0x${address[v]!.toString(16)} (several roots)`,
        bytes: retained[v]!,
        blocks: retainedCount[v]!,
      })),
    ];
    return rows.sort((x, y) => y.bytes - x.bytes || (x.name < y.name ? -1 : 1)).slice(0, k);
  };
  const once = analysis();
  for (const k of [50, 3, 1, 120, 7, 50]) {
    assertEquals(retainersOf(once, k), reference(k), `k = ${k} after the others`);
    assertEquals(retainersOf(analysis(), k), reference(k), `k = ${k} alone`);
  }
  // Ties at the top: the 100,000-byte blocks outnumber 50.
  assert(
    retained.filter((b, v) => b === 100_000 && idom[v] === -1 && heldBy[v] === -1).length > 50,
  );
});

Deno.test("summarize() and heldTotals() follow an analysis whose arrays were replaced", () => {
  const a = denseAnalysis();
  const before = summarize(a);
  const status = a.status.slice();
  const v = status.indexOf(STATUS_REACHABLE);
  status[v] = STATUS_LEAKED;
  a.status = status;
  assertEquals(summarize(a).reachable, before.reachable - 1);
  const owner = a.owner.slice();
  owner[v] = v;
  const held = heldTotals(a).get(v);
  a.owner = owner;
  assertEquals(heldTotals(a).get(v)?.blocks, (held?.blocks ?? 0) + 1);
});
