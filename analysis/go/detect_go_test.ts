// Unit tests of detectGoRuntime() on snapshots built in the test: build info in an image's
// writable memory (with the version), a symbol alone, and a C program (nothing).

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { detectGoRuntime, findBuildInfo } from "./detect_go.ts";
import type { Snapshot } from "../types.ts";

function snapshot(data: Uint8Array, symbols?: Record<string, number>): Snapshot {
  return {
    pid: 7,
    command: "app",
    platform: "linux",
    arch: "x86_64",
    pageSize: 4096,
    capturedAt: "",
    pauseMs: 0,
    regions: [],
    memory: [{ start: 0x524000, bytes: data }],
    threads: [],
    images: [{
      path: "/srv/app",
      bias: 0,
      writable: [{ start: 0x524000, end: 0x534000 }],
      symbols,
    }],
    warnings: [],
  };
}

/** The first bytes of .go.buildinfo as Go 1.18+ writes them: header, then inline strings. */
function buildInfo(version: string): Uint8Array {
  const b = new Uint8Array(4096);
  b.set([0xff, ...new TextEncoder().encode(" Go buildinf:"), 8, 2], 16);
  b[48] = version.length;
  b.set(new TextEncoder().encode(version), 49);
  return b;
}

Deno.test("detectGoRuntime() finds the build info, its version, or a Go symbol; nothing in C", () => {
  assertEquals(detectGoRuntime(snapshot(buildInfo("go1.19.8"))), {
    image: "/srv/app",
    version: "go1.19.8",
    evidence: "Go build info at 0x524010",
  });
  assertEquals(detectGoRuntime(snapshot(new Uint8Array(64), { "runtime.main": 0x401000 })), {
    image: "/srv/app",
    evidence: "symbol runtime.main",
  });
  assertEquals(detectGoRuntime(snapshot(new Uint8Array(4096))), undefined);
  // Unaligned magic is not build info.
  assertEquals(findBuildInfo(buildInfo("go1.19").subarray(1)), -1);
});
