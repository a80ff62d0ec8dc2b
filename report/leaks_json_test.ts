// Tests for the leaks.json writer and the text summary, on the hand-laid synthetic heap.
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { releaseMemory } from "../analysis/analyze.ts";
import { analyzeHeap } from "../analysis/analyze.ts";
import { buildSynthetic, heapOf } from "../analysis/testdata/synthetic.ts";
import { rng } from "../analysis/testdata/graphs.ts";
import { AllocationTable } from "../analysis/allocation_table.ts";
import { leaksJsonChunks, type LeaksJsonOptions, toLeaksFile } from "./leaks_json.ts";
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

Deno.test("leaksJsonChunks() with graph 'leaked' walks only the kept blocks' edges: the same bytes as toLeaksFile()", () => {
  // 3000 blocks of 32 pointer words: the first half only into the first half (reachable from a
  // global), the second half into the second half and the first 100 blocks (leaked; those 100 are
  // kept as their context, the other 1400 and their edges are left out). ~48,000 kept edges, so
  // that small chunks fill in the middle of a block's edges.
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
  const a = analyzeHeap(snapshot, heap);
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
