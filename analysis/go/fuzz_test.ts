// Fuzz tests of the Go heap-dump reader, index, graph and views: seeded mutations of a synthetic
// dump with every record kind and of a real one (testdata/heapvictim.dump.gz, written by
// victim/go/heapvictim.go built with Go 1.19.8 on SIGUSR1), through the shared mutators
// (analysis/testdata/mutate.ts). No crash (only HeapDumpError), no hang, bounded output.
//
// In-process rather than in the Workers of analysis/fuzz_test.ts: every loop of the reader
// consumes at least one byte of input or one field of a bounded list, so an input cannot hang; the
// per-input time is still measured and bounded below.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { mutateBytes, Rng, seedFor } from "../testdata/mutate.ts";
import { findAnchors } from "./anchors.ts";
import { buildGoGraph } from "./go_graph.ts";
import { classifyGoHeap } from "./go_liveness.ts";
import { HeapDumpError, HeapDumpReader } from "./heapdump_reader.ts";
import { parseOidFile } from "./oid_file.ts";
import { ownersOf } from "./owners.ts";
import { parseHeapDump } from "./parse_heapdump.ts";
import { sampleDump } from "./testdata/dump_writer.ts";
import { printRecords } from "../../report/go/print_records.ts";

const BASE_SEED = 20261127;
/** Per-input bound: a 380 KB dump parses, builds and prints in a few ms. */
const TIMEOUT_MS = 2000;
const oids = parseOidFile("0xcaffe14e00000001 main.Item\n0xcaffe14e00000003 main.Node\n");

async function realDump(): Promise<Uint8Array> {
  const gz = await Deno.readFile(new URL("./testdata/heapvictim.dump.gz", import.meta.url));
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Parses, builds, classifies, queries and prints one input; a broken invariant as text. */
function runOne(bytes: Uint8Array): "ok" | "rejected" | string {
  let dump;
  try {
    dump = parseHeapDump(bytes, { oids });
  } catch (e) {
    if (e instanceof HeapDumpError) return "rejected";
    return `crash: ${e instanceof Error ? e.stack : e}`;
  }
  const objs = dump.objects;
  if (objs.count > bytes.length / 3) return `${objs.count} objects from ${bytes.length} bytes`;
  if (objs.fieldOffset.length > bytes.length) return `${objs.fieldOffset.length} fields`;
  const g = buildGoGraph(dump, { bytes: (r, max) => bytes.subarray(r.offset, r.offset + max) });
  const n = g.nodes.count;
  for (let v = 1; v < n; v++) {
    if (g.nodes.address[v]! < g.nodes.address[v - 1]! + Math.max(g.nodes.size[v - 1]!, 1)) {
      return `nodes ${v - 1} and ${v} overlap or are unsorted`;
    }
  }
  for (const t of g.edges.target) if (t >= n) return `edge to missing node ${t}`;
  for (const t of g.roots.target) if (t >= n) return `root to missing node ${t}`;
  const l = classifyGoHeap(g);
  if (l.count.reduce((a, b) => a + b, 0) !== n) return "states do not cover every node";
  for (const v of [0, n >> 1, n - 1]) {
    if (v < 0 || v >= n) continue;
    findAnchors(g, v, 5);
    ownersOf(g, v, -1, 100);
    g.bytes!(v, 64);
  }
  let lines = 0;
  try {
    for (const _ of printRecords(new HeapDumpReader(bytes), { oids })) lines++;
  } catch (e) {
    if (!(e instanceof HeapDumpError)) return `print crash: ${e instanceof Error ? e.stack : e}`;
  }
  if (lines > bytes.length) return `${lines} lines printed from ${bytes.length} bytes`;
  return "ok";
}

function fuzzGo(what: string, base: () => Promise<Uint8Array>, count: number) {
  Deno.test(`fuzz: Go heap dump reader, graph and views survive ${count} mutated ${what}`, async () => {
    const bytes = await base();
    assertEquals(runOne(bytes), "ok");
    // Mutations aim mostly at the first records (params, types, itabs, the first objects).
    const hot = [{ start: 0, end: Math.min(bytes.length, 4096) }];
    let ok = 0, rejected = 0, maxMs = 0;
    const failures: string[] = [];
    for (let i = 0; i < count; i++) {
      const seed = seedFor(BASE_SEED, i);
      const m = mutateBytes(new Rng(seed), bytes, hot, 4);
      const t0 = performance.now();
      const outcome = runOne(m.value);
      maxMs = Math.max(maxMs, performance.now() - t0);
      if (outcome === "ok") ok++;
      else if (outcome === "rejected") rejected++;
      else if (failures.length < 5) failures.push(`seed ${seed} (${m.ops.join("; ")}): ${outcome}`);
    }
    console.log(
      `go ${what}: ${count} inputs, ok ${ok}, rejected ${rejected}, slowest ${maxMs.toFixed(1)} ms`,
    );
    assert(failures.length === 0, failures.join("\n"));
    assert(maxMs < TIMEOUT_MS, `slowest input took ${maxMs} ms`);
    assert(
      ok > 0 && rejected > 0,
      `ok ${ok}, rejected ${rejected}: the mutations do not exercise both`,
    );
  });
}

fuzzGo("synthetic dumps with every record kind", () => Promise.resolve(sampleDump()), 3000);
fuzzGo("real Go 1.19 dumps", realDump, 400);
