// Unit tests of ffi/recorder_table.ts that need no process: dump files of the older format
// (version 1, which today's recorder no longer writes), bad and truncated dumps, and the warnings.
// Dumps and tables of real processes are read in tests/recorder_c_test.ts.

import assert from "node:assert/strict";
import { parseRecorderDump, RecorderTableError, recorderWarnings } from "./recorder_table.ts";
import type { RecorderTable } from "../analysis/sites.ts";

/** A dump laid out as shim/recorder_linux.c writes it: one stack of 2 frames, one block, no
 * samples, a one-line maps text. Version 1 stops the header at 72 bytes; version 2 adds dropped
 * count and bytes, unwinder and fill (96 bytes). */
function dump(version: 1 | 2): Uint8Array {
  const maps = new TextEncoder().encode(
    "555555554000-555555555000 r-xp 00000000 08:01 42 /usr/bin/prog\n",
  );
  const header = version === 1 ? 72 : 96;
  const bytes = new Uint8Array(header + 56 + 16 + 32 + maps.length);
  const v = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode("HSDUMP1\0"));
  const u64 = (o: number, n: number) => v.setBigUint64(o, BigInt(n), true);
  v.setUint32(8, version, true);
  v.setUint32(12, 32, true); // depth
  u64(16, 4242); // pid
  u64(24, 1000); // start
  u64(32, 5000); // now
  u64(40, 1); // stacks
  u64(48, 1); // blocks
  u64(56, 0); // samples
  u64(64, maps.length);
  if (version === 2) {
    u64(72, 17); // dropped count
    u64(80, 680); // dropped bytes
    v.setUint32(88, 2, true); // libunwind
    v.setUint32(92, 1, true); // fill
  }
  let o = header;
  v.setUint32(o, 1, true);
  v.setUint32(o + 4, 2, true);
  for (let i = 0; i < 6; i++) u64(o + 8 + 8 * i, 10 + i);
  u64(o + 56, 0x555555554100);
  u64(o + 64, 0x555555554200);
  o += 72;
  u64(o, 0x5555555a0010);
  u64(o + 8, 48);
  v.setUint32(o + 16, 1, true);
  v.setUint32(o + 20, 4243, true);
  u64(o + 24, 3000);
  bytes.set(maps, o + 32);
  return bytes;
}

Deno.test("parseRecorderDump() reads version 1 and 2 dumps; only version 2 carries its health", () => {
  const v1 = parseRecorderDump(dump(1), "v1");
  const v2 = parseRecorderDump(dump(2), "v2");
  for (const d of [v1, v2]) {
    assert.equal(d.pid, 4242);
    assert.deepEqual(d.stacks.get(1)?.pcs, [0x555555554100, 0x555555554200]);
    assert.equal(d.stacks.get(1)?.totalBytes, 15);
    assert.deepEqual(d.blocks, [
      { address: 0x5555555a0010, size: 48, stack: 1, tid: 4243, timeNs: 3000 },
    ]);
    assert.equal(d.regions[0]?.path, "/usr/bin/prog");
  }
  assert.deepEqual([v1.droppedCount, v1.fill, v1.unwinder], [0, undefined, "dwarf"]);
  assert.deepEqual([v2.droppedCount, v2.droppedBytes, v2.fill, v2.unwinder], [
    17,
    680,
    true,
    "libunwind",
  ]);
});

Deno.test("parseRecorderDump() names the version and the byte where a dump ends early", () => {
  const bad = dump(2);
  new DataView(bad.buffer).setUint32(8, 3, true);
  assert.throws(() => parseRecorderDump(bad, "x"), /recorder dump x: version 3, expected 1 or 2/);
  assert.throws(
    () => parseRecorderDump(dump(2).subarray(0, 80), "short"),
    /recorder dump short: truncated at byte 80/,
  );
  assert.throws(
    () => parseRecorderDump(dump(2).subarray(0, 140), "cut"),
    (e) => e instanceof RecorderTableError && /truncated at byte \d+/.test(e.message),
  );
});

Deno.test("recorderWarnings() says what a table is missing and what to do", () => {
  const table: RecorderTable = {
    pid: 1,
    depth: 32,
    unwinder: "libunwind",
    startNs: 0,
    nowNs: 0,
    stacks: new Map(),
    blocks: [],
    timeline: [],
    source: "memory of process 1",
  };
  assert.deepEqual(
    recorderWarnings({ ...table, droppedCount: 0, droppedBytes: 0, fill: true }),
    [],
  );
  const all = recorderWarnings({
    ...table,
    droppedCount: 12,
    droppedBytes: 480,
    fill: false,
    snapshotSignal: { signal: 40, state: "replaced" },
  });
  assert.equal(all.length, 3);
  assert.match(all[0]!.message, /\(memory of process 1\) could not hold 12 allocations \(480/);
  assert.match(all[1]!.message, /installed its own handler for signal 40/);
  assert.match(all[2]!.message, /HEAPSCOPE_FILL=0/);
  assert.ok(all.every((w) => w.hints.length > 0));
  const refused = recorderWarnings({
    ...table,
    droppedCount: 0,
    droppedBytes: 0,
    snapshotSignal: { signal: 11, state: "refused" },
  });
  assert.match(refused[0]!.message, /installed no snapshot handler: signal 11 was refused/);
});
