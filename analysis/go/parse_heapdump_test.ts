// Unit tests of the Go heap-dump reader and index on a dump with every record kind (written by the
// test writer), through both sources: bytes in memory and a file reader with a tiny window.

import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { HeapDumpError, HeapDumpReader } from "./heapdump_reader.ts";
import { parseOidFile } from "./oid_file.ts";
import { parseHeapDump } from "./parse_heapdump.ts";
import { DumpWriter, SAMPLE, sampleDump } from "./testdata/dump_writer.ts";
import { type FileRangeReader, RECORD_KINDS } from "./types.ts";

/** The bytes behind a FileRangeReader that hands out at most `chunk` bytes a call. */
function fileOf(bytes: Uint8Array, chunk = 7): FileRangeReader {
  return {
    size: bytes.length,
    read(offset, into) {
      const n = Math.min(into.length, chunk, bytes.length - offset);
      into.set(bytes.subarray(offset, offset + n));
      return Math.max(n, 0);
    },
  };
}

Deno.test("parseHeapDump() reads every record kind of the go1.7 format", () => {
  const d = parseHeapDump(sampleDump());
  for (const k of RECORD_KINDS) assert(d.recordCounts[k] > 0, `no ${k} record`);
  assertEquals(d.params?.goVersion, "go1.19.8");
  assertEquals(d.types.get(SAMPLE.type)?.name, "*main.Item");
  assertEquals(d.itabs.get(SAMPLE.itab), SAMPLE.type);
  assertEquals(d.objects.count, 10);
  assertEquals(
    d.otherRoots.map((o) => [o.description, o.pointer]),
    [["runtime.something", SAMPLE.other]],
  );
  assertEquals(d.frames.map((f) => [f.function, d.goroutines[f.goroutine]!.id]), [[
    "main.holder",
    1,
  ]]);
  assertEquals(Array.from(d.frames[0]!.fieldValues), [SAMPLE.onStack + 16]); // nil word dropped
  assertEquals(d.segments.map((s) => [s.kind, s.fieldOffsets.length]), [["data", 1], ["bss", 1]]);
  assertEquals(d.finalizers.map((f) => f.object), [SAMPLE.cycleA, SAMPLE.finalized]);
  assertEquals(d.queuedFinalizers.map((f) => f.object), [SAMPLE.queued]);
  assertEquals(d.memStats?.numGC, 7);
  assertEquals(d.memStats?.values.HeapAlloc, 6);
  assertEquals(d.memProf[0]!.frames, [{ function: "main.main", file: "/src/main.go", line: 42 }]);
  assertEquals(d.allocSamples[0]!.address, SAMPLE.global);
  assertEquals(d.defers.length + d.panics.length + d.osThreads.length, 3);
  // Object contents stay in the file: the index holds their offsets.
  const g = d.objects.address.indexOf(SAMPLE.global);
  const bytes = sampleDump().subarray(d.objects.contents[g]!, d.objects.contents[g]! + 8);
  assertEquals(Array.from(bytes), [1, 0, 0, 0, 0x4e, 0xe1, 0xff, 0xca]);
  assertEquals(d.objects.pointerSlots[g], 3);
  assertEquals(d.objects.fieldStart[g + 1]! - d.objects.fieldStart[g]!, 2); // one slot is nil
});

Deno.test("parseHeapDump() gives the same index from bytes and from a file read in small windows", () => {
  const bytes = sampleDump();
  const oids = parseOidFile("0xcaffe14e00000001 main.Registry\n0xcaffe14e00000003 main.Node\n");
  const a = parseHeapDump(bytes, { oids });
  const b = parseHeapDump(fileOf(bytes), { oids, window: 64 });
  assertEquals(b, a);
  assertEquals([...a.objects.oid!].filter((k) => k >= 0).length, 3);
});

Deno.test("HeapDumpReader reads a large object's words beyond its window", () => {
  const words = Array.from({ length: 5000 }, (_, i) => 0xc000200000 + 16 * i);
  const bytes = new DumpWriter().params().object(0xc000100000, words, words.map((_, i) => i)).eof()
    .bytes();
  const r = new HeapDumpReader(fileOf(bytes, 1 << 20), { window: 256 });
  r.next();
  const o = r.next();
  assertEquals(o?.kind, "object");
  assertEquals(Array.from(r.fieldValues.subarray(0, r.fieldCount)), words);
});

Deno.test("HeapDumpReader rejects damaged files with the offset and a hint, never another error", () => {
  throws(
    () => new HeapDumpReader(new TextEncoder().encode("go1.4 heap dump\n")),
    /not a Go heap dump/,
  );
  const bytes = sampleDump();
  // Every truncation ends in a HeapDumpError (or, past the EOF record, parses).
  for (let n = 0; n < bytes.length; n++) {
    try {
      parseHeapDump(bytes.subarray(0, n));
      assert(false, `a ${n}-byte prefix parsed`);
    } catch (e) {
      assert(e instanceof HeapDumpError, `prefix ${n}: ${e}`);
      assert(e.hints.length === 1 && e.exitStatus === 2, e.message);
    }
  }
  const bad = new DumpWriter().params().uvarint(99).bytes();
  throws(() => parseHeapDump(bad), /unknown record tag 99 \(record at offset 47\)/);
});

Deno.test("HeapDumpReader ignores a field outside its object with a warning", () => {
  const bytes = new DumpWriter().params().object(0xc000100000, [1, 2], [0, 5]).eof().bytes();
  const d = parseHeapDump(bytes);
  assertEquals(d.objects.pointerSlots[0], 1);
  assert(d.warnings.some((w) => /\+0x28 lies outside the 16-byte object at 0xc000100000/.test(w)));
});

Deno.test("parseOidFile() reads values and names, and names the bad line", () => {
  const t = parseOidFile("# ids\n0xCAFFE14E00000016 pion.webrtcSource\n\n12 small\n");
  assertEquals(t.names, ["pion.webrtcSource", "small"]);
  assertEquals(t.byValue.get("caffe14e00000016"), 0);
  assertEquals(t.byValue.get("0000000000000012"), 1);
  throws(() => parseOidFile("0x1 a\nnonsense\n", "oid.txt"), /oid.txt: line 2 is not/);
});
