// Unit tests of the Go text views on the sample dump: --print lines of every record kind in
// heapspurs' wording, the hexdump's pointer marks, the attach advice.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { HeapDumpReader } from "../../analysis/go/heapdump_reader.ts";
import { parseOidFile } from "../../analysis/go/oid_file.ts";
import { ProgramSymbols } from "../../analysis/go/program_symbols.ts";
import { SAMPLE, sampleDump } from "../../analysis/go/testdata/dump_writer.ts";
import { formatHexdump } from "./hexdump.ts";
import { goAttachAdvice } from "./go_text.ts";
import { printRecords } from "./print_records.ts";

Deno.test("printRecords() prints every record kind as heapspurs does, names from ids and symbols", () => {
  const oids = parseOidFile("0xcaffe14e00000001 main.Registry\n");
  const symbols = new ProgramSymbols([{ name: "main.registry", address: SAMPLE.bss + 8, size: 8 }]);
  const lines = [...printRecords(new HeapDumpReader(sampleDump()), { oids, symbols })];
  const want = [
    "DumpParams: BigEndian=false, PointerSize=8, Heap=0xc000000000-0xc004000000, Architecture=amd64, GoVersion=go1.19.8, Cpus=2",
    "TypeDescriptor for '*main.Item' @ 0x496a00: Objects are 32 bytes",
    "Itab @ 0x4c4388: 0x496a00",
    "Object @ 0xc000010060 with 1 pointers in 32 bytes",
    "  Pointer[0]@0xc000010068 = 0xc000010080",
    "main.Registry @ 0xc000010000 with 3 pointers in 32 bytes",
    "Goroutine[1] @ 0xc0000061a0: Waiting (chan receive), Stack @ 0xc000100000",
    "StackFrame[0] @ 0xc000100000: main.holder with 2 pointers in 24 bytes; child = 0x0",
    "  Pointer[0]@0xc000100008 = 0xc000010050",
    "DeferRecord @ 0xc00008a050: Goroutine = 0xc0000061a0, SP = 0xc000100000, PC = 0x48a199, FuncVal = 0x4ab648, Entry = 0x48a140, Next = 0x0",
    "PanicRecord @ 0xc00003c740: Goroutine = 0xc0000061a0, Arg = {0x492940, 0x4c3ed0}, Next = 0x0",
    "OsThread @ 0xc000080000: GoId = 0; OsId = 0x1092",
    "DataSegment @ 0x5348c0-0x5348d0 with 1 pointers",
    "BssSegment @ 0x53c320-0x53c338 with 3 pointers",
    "  Pointer[1]@0x53c328 (main.registry) = 0xc000010000",
    "OtherRoot @ 0xc000010120: runtime.something",
    "RegisteredFinalizer @ 0xc000010060: FuncVal: 0x4ab648, Type: 0x48fb40, Object Type: 0x48fb40",
    "QueuedFinalizer @ 0xc000010100: FuncVal: 0x4ab658, Type: 0x48fb40, Object Type: 0x48fb40",
    "AllocFreeProfileRecord 0x7f0000001000: Size = 64, Allocs = 3, Frees = 1, 1 frames",
    "  main.main (/src/main.go:42)",
    "AllocStackTraceSample @ 0xc000010000: Record = 0x7f0000001000",
    "End Of File",
  ];
  for (const w of want) assert(lines.includes(w), `missing: ${w}\nin:\n${lines.join("\n")}`);
  assert(
    lines.some((l) => l.startsWith("MemStats: {Alloc:0 TotalAlloc:1 ") && l.endsWith("NumGC:7}")),
  );
  const found = [...printRecords(new HeapDumpReader(sampleDump()), { oids, find: /Registry/ })];
  assertEquals(found[0], "main.Registry @ 0xc000010000 with 3 pointers in 32 bytes");
  assertEquals(found.at(-1), "End Of File");
  assertEquals(found.filter((l) => !l.startsWith("  ")).length, 2);
});

Deno.test("formatHexdump() marks pointer words in place and names them below", () => {
  const bytes = new Uint8Array(20).map((_, i) => i + 0x41);
  const lines = formatHexdump(bytes, [{ offset: 8, value: 0xc000010000, name: "main.x" }], 48);
  assertEquals(lines, [
    "00000000  41 42 43 44 45 46 47 48 *49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|",
    "00000010  51 52 53 54                                       |QRST|",
    "... 28 more bytes not shown",
    "Pointer: 0x8 = 0xc000010000 (main.x)",
  ]);
});

Deno.test("goAttachAdvice() says it is a Go program and how to write a dump", () => {
  const text = goAttachAdvice(42, { image: "/srv/app", version: "go1.19.8", evidence: "x" })
    .join("\n");
  assert(/Process 42 \(\/srv\/app\) is a Go program \(go1\.19\.8\)/.test(text));
  assert(/kill -USR1 42/.test(text) && /debug\.WriteHeapDump/.test(text));
});
