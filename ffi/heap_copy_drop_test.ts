// The heap's copy dropped once the leaked blocks are known (analysis/analyze.ts, `discard`; the
// CLI's one path does it), its pages taken over by the later arrays (ZeroedMemory.adopt) or given
// back, and the scratch arrays given back early (analysis/arrays.ts releaseArrays): on a captured
// real program, every result is the same as with the copy kept and plain arrays.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { analyze } from "../analysis/analyze.ts";
import { demangle, loadDemangler } from "../analysis/demangle.ts";
import { type Analysis, isLeaked } from "../analysis/types.ts";
import { useZeroedMemory } from "../analysis/arrays.ts";
import { discardCopied } from "./copy_buffers.ts";
import { hugeZeroedMemory } from "./huge_arrays.ts";
import { scanKernel } from "./scan_kernel.ts";
import { withCapturedSessions } from "../tests/procs.ts";

/** Everything an analysis tells, as plain data (read before the copy goes). */
function results(a: Analysis) {
  const leaked: number[] = [];
  for (let i = 0; i < a.status.length; i++) if (isLeaked(a.status[i]!)) leaked.push(i);
  return {
    status: [...a.status],
    leak: [...a.leak],
    cycles: a.cycles,
    owner: [...a.owner],
    idom: [...a.idom!],
    heldBy: [...a.heldBy!],
    retained: [...a.retained!],
    holders: a.holders,
    roots: a.roots,
    types: [...a.graph.nodes.type],
    typeNames: a.graph.nodes.typeNames,
    prefixes: leaked.map((i) => [i, [...(a.leakedPrefix.get(i) ?? [])]]),
  };
}

Deno.test("dropping the heap's copy and releasing arrays early changes no result and gives its pages back", async () => {
  await loadDemangler();
  await withCapturedSessions((snapshot, files) => {
    const opts = { kernel: scanKernel(), imageFiles: files, demangle };
    const kept = results(analyze(snapshot, opts));
    assert(kept.prefixes.length > 1000, `${kept.prefixes.length} leaked blocks`);
    assert(kept.prefixes.every(([, bytes]) => (bytes as number[]).length > 0));
    const chunks = snapshot.memory.length;
    const given: Uint8Array[] = [];
    // Every array, however small, from the huge-page arena as on the command line: an array
    // released too early reads as zeros there, and some result below differs.
    const huge = hugeZeroedMemory();
    assert(huge?.release && huge.adopt, "no huge-page arrays with release() on this machine");
    // The copy's chunks the arrays made after the drop take over (ZeroedMemory.adopt): a result
    // read from the copy after the drop would read those arrays' data, and differ below.
    const adopted: Uint8Array[] = [];
    const source = Object.assign((b: number, sparse?: boolean) => huge(b, sparse), huge, {
      adopt: (bytes: Uint8Array) => {
        const took = huge.adopt!(bytes);
        if (took) adopted.push(bytes);
        return took;
      },
    });
    useZeroedMemory(source, 0);
    let dropped: Analysis;
    try {
      dropped = analyze(snapshot, {
        ...opts,
        discard: (bytes) => {
          given.push(bytes);
          return discardCopied(bytes);
        },
      });
    } finally {
      useZeroedMemory(undefined);
    }
    // Field by field, as JSON: a diff of arrays this long would take minutes to print.
    const now = results(dropped);
    for (const k of Object.keys(kept) as (keyof typeof kept)[]) {
      assert(JSON.stringify(now[k]) === JSON.stringify(kept[k]), `${k} differs`);
    }
    // The heap's chunks (and only they) went: their pages read as zeros now, and reads find
    // nothing there.
    const heap = dropped.heap.heapRanges;
    const inHeap = (a: number) => heap.some((r) => a >= r.start && a < r.end);
    assert(adopted.length > 0, "no chunk adopted");
    assert(given.every((b) => b.every((v) => v === 0)));
    assertEquals(snapshot.memory.length, chunks - given.length - adopted.length);
    assert(snapshot.memory.every((c) => !inHeap(c.start)), "a heap chunk is left");
    const bytes = [...given, ...adopted].reduce((s, b) => s + b.length, 0);
    const heapBytes = dropped.graph.nodes.size.reduce((s, v) => s + v, 0);
    assert(bytes >= heapBytes, `${bytes} bytes given back, the blocks hold ${heapBytes}`);
    assertEquals(dropped.graph.bytes?.(0, 8), undefined);
  });
});
