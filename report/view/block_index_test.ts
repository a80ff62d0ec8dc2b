// Tests of the block index: encode → decode gives every column back, search by address, caps.

import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { sampleLeaks } from "../sample_leaks.ts";
import { buildAdjacency } from "./adjacency.ts";
import {
  blockAddress,
  blockStatus,
  buildBlockIndex,
  decodeBlockIndex,
  encodeBlockIndex,
  findBlocks,
} from "./block_index.ts";
import { tiny } from "./testdata/tiny_leaks.ts";

Deno.test("encodeBlockIndex() → decodeBlockIndex() round-trips every column and both adjacencies", () => {
  const leaks = sampleLeaks({ allocations: 5000, withSites: true, withBytes: true });
  leaks.nodes[7]!.requested = 33;
  for (const k of [0, 3, 700]) leaks.edges[k]!.weak = true;
  const index = buildBlockIndex(leaks, buildAdjacency(leaks));
  const back = decodeBlockIndex(encodeBlockIndex(index));
  for (
    const k of [
      "id",
      "address",
      "size",
      "flags",
      "zone",
      "via",
      "site",
      "requested",
      "type",
      "retained",
      "outStart",
      "outTarget",
      "outOffset",
      "outWeak",
      "inStart",
      "inSource",
      "inOffset",
    ] as const
  ) {
    assertEquals(Array.from(back[k]), Array.from(index[k]), k);
  }
  assertEquals(back.zones, index.zones);
  assertEquals(back.bytes, index.bytes);
  assertEquals(back.outTarget.length, leaks.edges.length);
  assertEquals(back.requested[7], 33);
  assertEquals(back.outWeak.reduce((s, x) => s + x, 0), 3);
  leaks.nodes.forEach((n, b) => {
    assertEquals(blockAddress(back, b), n.address);
    assertEquals(blockStatus(back, b), n.status);
  });
  throws(() => decodeBlockIndex(new Uint8Array([1, 2, 3])), /bad magic/);
  throws(() => decodeBlockIndex(encodeBlockIndex(index).slice(0, 200)), /truncated/);
});

Deno.test("findBlocks() finds a substring of an address, and the block an interior address falls in", () => {
  const leaks = tiny();
  const index = buildBlockIndex(leaks, buildAdjacency(leaks));
  assertEquals(findBlocks(index, "14"), [4]);
  assertEquals(findBlocks(index, "1"), [0, 1, 2, 3, 4, 5, 6, 7]);
  assertEquals(findBlocks(index, "1208"), [2], "0x1208 is inside the 100-byte block at 0x1200");
  assertEquals(findBlocks(index, "1f00"), [7], "inside the 200,000-byte block at 0x1700");
  assertEquals(findBlocks(index, "ffffff"), []);
  assertEquals(findBlocks(index, ""), []);
});

Deno.test("buildBlockIndex() caps the blocks it embeds; 10^5 blocks encode to under 2 MB", async () => {
  const leaks = sampleLeaks({ allocations: 100_000 });
  const adj = buildAdjacency(leaks);
  const capped = buildBlockIndex(leaks, adj, 1000);
  assertEquals([capped.count, capped.inFile], [1000, 100_000]);
  assert(capped.outTarget.every((t) => t < 1000));
  const bytes = encodeBlockIndex(buildBlockIndex(leaks, adj));
  const gz = await new Response(
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  ).arrayBuffer();
  assert(bytes.length < 2_000_000, `${bytes.length} bytes`);
  assert(gz.byteLength < bytes.length * 0.6, `${gz.byteLength} compressed`);
});
