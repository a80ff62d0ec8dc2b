// The analysis's arena (shim/arena_linux.c through ffi/huge_arrays.ts): arrays come zeroed and
// apart, the helper thread faults pages in ahead of them without changing a byte the analysis
// wrote, sparse arrays stay out of it, and what the helper did is visible in its stats.

import assert from "node:assert/strict";
import { arenaStats, hugeZeroedMemory } from "./huge_arrays.ts";
import { CopyBuffers } from "./copy_buffers.ts";
import { prefaultArrays, releaseArrays, useZeroedMemory } from "../analysis/arrays.ts";

const MiB = 2 ** 20;
const source = hugeZeroedMemory();

/** Until the helper has populated at least `bytes` past what was handed out (its event). */
async function helperReached(bytes: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = arenaStats()!;
    if (s.populated >= s.handedOut + bytes) return;
    assert.ok(Date.now() < deadline, `helper stuck: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("THP is on here, so the analysis gets huge-page arrays", () => {
  assert.ok(source, "hugeZeroedMemory() gave nothing: THP is off on this machine");
});

Deno.test("arena arrays come zeroed, do not overlap, and keep what was written while the helper runs", async () => {
  const arrays: Float64Array[] = [];
  for (let k = 0; k < 24; k++) {
    const bytes = (1 + (k % 5)) * MiB + 8 * k;
    const buffer = source!(bytes)!;
    assert.ok(buffer.byteLength >= bytes);
    const a = new Float64Array(buffer, 0, Math.floor(bytes / 8));
    for (let i = 0; i < a.length; i += 511) assert.equal(a[i], 0, `array ${k} word ${i} not zero`);
    // Write every word while the helper populates ahead (prepared far past these arrays).
    source!.prepare!(256 * MiB);
    for (let i = 0; i < a.length; i++) a[i] = k * 1e7 + i;
    arrays.push(a);
  }
  await helperReached(128 * MiB);
  for (let k = 0; k < arrays.length; k++) {
    const a = arrays[k]!;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== k * 1e7 + i) {
        assert.fail(`array ${k} word ${i}: ${a[i]}, written ${k * 1e7 + i}`);
      }
    }
  }
  const s = arenaStats()!;
  assert.ok(s.helped >= 128 * MiB, `the helper populated only ${s.helped} bytes`);
  // An array handed out after the helper went ahead is still zero and writable.
  const late = new Uint32Array(source!(8 * MiB)!, 0, 2 * MiB);
  assert.ok(late.every((w) => w === 0));
  late.fill(0xdeadbeef);
  assert.equal(late[late.length - 1], 0xdeadbeef);
});

Deno.test("sparse arrays get their own mapping: the arena hands out nothing for them", () => {
  const before = arenaStats()!.handedOut;
  const sparse = new Float64Array(source!(64 * MiB, true)!, 0, 8 * MiB);
  sparse[0] = 1;
  sparse[sparse.length - 1] = 2;
  assert.equal(arenaStats()!.handedOut, before);
  assert.equal(sparse[0]! + sparse[sparse.length - 1]!, 3);
});

Deno.test("prefaultArrays() has the helper fault in the start of a sparse array, not its tail", async () => {
  await helperIdle(); // nothing else for the helper to do meanwhile
  useZeroedMemory(source);
  try {
    const helped = arenaStats()!.helped;
    const sparse = new Float64Array(source!(256 * MiB, true)!, 0, 32 * MiB);
    const at = Deno.UnsafePointer.value(Deno.UnsafePointer.of(sparse));
    assert.equal(residentKb(at), 0);
    prefaultArrays(4 * MiB, sparse); // its first 32 MiB
    const deadline = Date.now() + 60_000;
    while (arenaStats()!.helped < helped + 32 * MiB) { // the helper's event: it counts what it did
      assert.ok(Date.now() < deadline, `helper stuck: ${JSON.stringify(arenaStats())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(residentKb(at), 32 * 1024, "the first 32 MiB of the mapping, and only those");
    assert.ok(sparse.subarray(0, 4 * MiB).every((w) => w === 0), "prefaulted, it reads as zeros");
  } finally {
    useZeroedMemory(undefined);
  }
});

/** Resident kB of the mapping that holds `address` (/proc/self/smaps). */
function residentKb(address: bigint): number {
  const smaps = Deno.readTextFileSync("/proc/self/smaps").split("\n");
  for (let i = 0; i < smaps.length; i++) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(smaps[i]!);
    if (!m || address < BigInt(`0x${m[1]}`) || address >= BigInt(`0x${m[2]}`)) continue;
    for (let j = i + 1; j < smaps.length && !/^[0-9a-f]+-/.test(smaps[j]!); j++) {
      const rss = /^Rss:\s+(\d+) kB/.exec(smaps[j]!);
      if (rss) return Number(rss[1]);
    }
  }
  throw new Error(`no mapping holds 0x${address.toString(16)}`);
}

/** Until the helper has nothing left to do (its event: populated up to its target). */
async function helperIdle(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let s = arenaStats()!; s.populated < s.target; s = arenaStats()!) {
    assert.ok(Date.now() < deadline, `helper stuck: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("a released arena array gives its pages back and reads as zeros; a plain one is left alone", async () => {
  const a = new Uint8Array(source!(64 * MiB)!, 0, 64 * MiB);
  a.fill(7); // resident now (the helper may have faulted it in already: either way)
  await helperIdle(); // the window past this array is faulted in now, not during the release
  const filled = anonKb();
  useZeroedMemory(source);
  releaseArrays(a);
  useZeroedMemory(undefined);
  assert.ok(anonKb() <= filled - 60 * 1024, `released: ${filled} → ${anonKb()} kB`);
  assert.equal(a[0]! + a[a.length - 1]!, 0);
  const plain = new Uint8Array(16).fill(1);
  releaseArrays(plain); // no source: nothing happens
  assert.equal(plain[15], 1);
});

/** The process's anonymous resident memory (kB), from /proc/self/status. */
function anonKb(): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m![1]);
}

Deno.test("adopted copy memory serves the next arrays zeroed, keeps its buffer alive, and trim gives the rest back", () => {
  // A piece of a copy buffer (as a dropped heap chunk is), full of data, unaligned at both ends.
  const copy = new CopyBuffers([40 * MiB], 0);
  const chunk = copy.take(40 * MiB).subarray(100, 40 * MiB - 100);
  chunk.fill(0xab);
  const handed = arenaStats()!.handedOut;
  assert.ok(source!.adopt!(chunk), "a copy buffer's piece is adopted");
  assert.equal(source!.adopt!(new Uint8Array(8 * MiB)), false, "V8's own memory is not");
  // Arrays from it: zeroed, apart, inside the chunk's whole pages; the arena hands out nothing.
  const a = new Float64Array(source!(8 * MiB)!), b = new Uint32Array(source!(16 * MiB)!);
  assert.ok(a.every((x) => x === 0) && b.every((x) => x === 0));
  a.fill(1.5);
  b.fill(7);
  const at = (x: ArrayBufferView) =>
    Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(x as Uint8Array)!));
  const start = at(chunk), end = start + chunk.length;
  for (const x of [a, b]) {
    assert.ok(at(x) >= start && at(x) + x.byteLength <= end, "inside the chunk");
    assert.equal(at(x) % 64, 0);
  }
  assert.ok(at(b) >= at(a) + a.byteLength, "apart");
  assert.equal(arenaStats()!.handedOut, handed);
  // What no array took can serve one more.
  const c = new Uint8Array(source!(12 * MiB)!);
  assert.ok(at(c) >= start && at(c) + c.length <= end);
  // A released adopted array reads as zeros (its whole pages given back).
  c.fill(3);
  useZeroedMemory(source);
  releaseArrays(c);
  useZeroedMemory(undefined);
  assert.ok(c.every((x) => x === 0), "released");
  // The bytes outside whole pages are left as they were, and so, so far, is what is left.
  assert.equal(chunk[0], 0xab);
  assert.equal(chunk[chunk.length - 1], 0xab);
  const tail = chunk.subarray(chunk.length - 4096 - 200, chunk.length - 4096 - 100);
  assert.ok(tail.every((x) => x === 0xab));
  // One bigger than what is left comes from the arena, and what is left goes back for it.
  const d = new Uint8Array(source!(8 * MiB)!);
  assert.ok(at(d) < start || at(d) >= end, "past what is left: the arena's");
  assert.ok(tail.every((x) => x === 0), "given back for the arena's array");
  // Trim gives back what another adopted piece has left.
  const copy2 = new CopyBuffers([8 * MiB], 0);
  const chunk2 = copy2.take(8 * MiB).fill(0xcd);
  assert.ok(source!.adopt!(chunk2));
  const f = new Uint8Array(source!(2 * MiB)!);
  f.fill(9);
  source!.trim!();
  assert.ok(chunk2.subarray(4 * MiB).every((x) => x === 0), "trim gave the rest back");
  assert.ok(f.every((x) => x === 9), "the arrays keep their data");
  assert.ok(a.every((x) => x === 1.5) && b.every((x) => x === 7));
  // After trim nothing more comes from either.
  const e = new Uint8Array(source!(1 * MiB)!);
  assert.ok(at(e) < start || at(e) >= end);
  assert.ok(at(e) < at(chunk2) || at(e) >= at(chunk2) + chunk2.length);
});

Deno.test("prepare() gives back adopted memory past what is said to come: small pieces whole, then a tail", () => {
  const small = new CopyBuffers([8 * MiB], 0).take(8 * MiB).fill(0xab);
  const big = new CopyBuffers([32 * MiB], 0).take(32 * MiB).fill(0xcd);
  assert.ok(source!.adopt!(small) && source!.adopt!(big));
  const rss = anonKb();
  // 40 MiB adopted, 20 said to come: the small piece goes back whole, then the big one's last 12.
  source!.prepare!(20 * MiB);
  assert.ok(anonKb() <= rss - 19 * 1024, `given back: ${rss} → ${anonKb()} kB`);
  assert.ok(small.every((x) => x === 0), "the smaller piece went back whole");
  assert.ok(big.subarray(20 * MiB + 4096).every((x) => x === 0), "the big one's tail went back");
  assert.ok(big.subarray(0, 20 * MiB - 4096).every((x) => x === 0xcd), "its head stays for arrays");
  // What is left serves the arrays said to come; past it, the arena's.
  const at = (x: ArrayBufferView) =>
    Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(x as Uint8Array)!));
  const a = new Uint8Array(source!(16 * MiB)!);
  assert.ok(at(a) >= at(big) && at(a) + a.length <= at(big) + 20 * MiB, "inside the head kept");
  const b = new Uint8Array(source!(8 * MiB)!);
  const outside = (x: Uint8Array, y: Uint8Array) =>
    at(x) + x.length <= at(y) || at(x) >= at(y) + y.length;
  assert.ok(outside(b, small) && outside(b, big), "the arena's");
  // Nothing adopted left to give back: prepare() changes nothing more.
  a.fill(1);
  source!.prepare!(0);
  assert.ok(a.every((x) => x === 1));
  source!.trim!();
});
