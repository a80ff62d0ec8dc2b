// Tests for the parts of the macOS capture that run anywhere: decoding the shim's packed records.

import { deepStrictEqual as assertEquals, rejects as assertRejects } from "node:assert/strict";
import { captureDarwinSnapshot, decodeImageRecords, decodeZoneNames } from "./darwin_capture.ts";

Deno.test("decodeImageRecords() unpacks (u64 load address, NUL-terminated path) records", () => {
  const enc = new TextEncoder();
  const paths = ["/tmp/leaky", "/usr/lib/libSystem.B.dylib"];
  const addrs = [0x1_0000_0000, 0x1_8b4c_8000];
  const parts: number[] = [];
  paths.forEach((p, i) => {
    const a = new Uint8Array(8);
    new DataView(a.buffer).setBigUint64(0, BigInt(addrs[i]!), true);
    parts.push(...a, ...enc.encode(p), 0);
  });
  const recs = decodeImageRecords(Uint8Array.from(parts), 2);
  assertEquals(recs, [
    { loadAddress: 0x1_0000_0000, path: "/tmp/leaky" },
    { loadAddress: 0x1_8b4c_8000, path: "/usr/lib/libSystem.B.dylib" },
  ]);
  assertEquals(decodeImageRecords(Uint8Array.from(parts), 1).length, 1);
});

Deno.test("decodeZoneNames() splits NUL-separated names and stops at the padding", () => {
  const buf = new Uint8Array(64);
  buf.set(new TextEncoder().encode("DefaultMallocZone\0MallocHelperZone\0"));
  assertEquals(decodeZoneNames(buf), ["DefaultMallocZone", "MallocHelperZone"]);
  assertEquals(decodeZoneNames(new Uint8Array(8)), []);
});

Deno.test({
  name: "captureDarwinSnapshot() refuses to run off macOS",
  ignore: Deno.build.os === "darwin",
  async fn() {
    await assertRejects(captureDarwinSnapshot(1), /macOS backend on linux/);
  },
});
