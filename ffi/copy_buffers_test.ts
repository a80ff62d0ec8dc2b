// Tests for CopyBuffers: shim-mapped blocks (huge pages where the kernel allows) handed out in
// order, fresh memory once they are full, and unmapped once nothing refers to them.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { CopyBuffers, discardCopied, transparentHugePages } from "./copy_buffers.ts";

const address = (v: Uint8Array) => Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(v)));

/** Kilobytes of anonymous huge pages this process holds (/proc/self/smaps_rollup). */
function anonHugeKb(): number {
  const m = /^AnonHugePages:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"));
  return Number(m?.[1] ?? 0);
}

Deno.test("CopyBuffers.take() hands out page-aligned zeroed views of one prepared block", () => {
  const b = new CopyBuffers([8192, 100, 4096], 1000);
  assert(b.preparedBytes >= 8192 + 100 + 4096 + 1000);
  const x = b.take(8192), y = b.take(100), z = b.take(4096 + 600);
  assert(x.buffer === y.buffer && y.buffer === z.buffer);
  // Each piece starts on a page: the kernel then copies a target page into one page, not two.
  assertEquals([y.byteOffset - x.byteOffset, z.byteOffset - x.byteOffset], [8192, 12288]);
  assertEquals(address(x) % (2 << 20), 0, "the block starts on a 2 MiB boundary");
  assert(z.every((v) => v === 0));
  assertEquals(b.coldBytes, 0);
});

Deno.test("CopyBuffers.take() falls back to fresh memory when the slack is used up", () => {
  const b = new CopyBuffers([4096], 16);
  // The shim rounds the block up to 2 MiB: fill it but for one page.
  assertEquals(b.preparedBytes, 2 << 20);
  b.take(b.preparedBytes - 4096);
  const fresh = b.take(8192);
  assertEquals(fresh.length, 8192);
  assertEquals(address(fresh) % 4096, 0);
  assertEquals(b.coldBytes, 8192);
  // A smaller request still fits the room left in the block.
  const rest = b.take(4096);
  assert(rest.buffer !== fresh.buffer);
  assertEquals(b.coldBytes, 8192);
});

Deno.test("CopyBuffers of nothing prepares nothing and still serves requests", () => {
  const b = new CopyBuffers([], 0);
  assertEquals(b.preparedBytes, 0);
  assertEquals(b.take(10).length, 10);
  assertEquals(b.coldBytes, 10);
});

Deno.test("CopyBuffers backs 64 MiB with huge pages when THP is on, reports progress, and writes work", () => {
  const steps: number[] = [];
  const b = new CopyBuffers([64 << 20], 0, { onProgress: (done) => steps.push(done) });
  assertEquals(steps.at(-1), b.preparedBytes);
  const v = b.take(64 << 20);
  v[0] = 1;
  v[v.length - 1] = 2;
  assertEquals([v[0], v[v.length - 1]], [1, 2]);
  const thp = transparentHugePages();
  if (thp === "never") {
    assertEquals(b.hugeBytes, 0);
  } else {
    // The kernel may fall short of a few huge pages when memory is fragmented: most must be huge.
    assert(b.hugePagesAdvised, "MADV_HUGEPAGE taken");
    assert(b.hugeBytes >= (48 << 20), `only ${b.hugeBytes} bytes in huge pages (THP ${thp})`);
    assert(anonHugeKb() >= 48 << 10, `AnonHugePages ${anonHugeKb()} kB`);
  }
});

Deno.test("CopyBuffers blocks are unmapped once no view refers to them", async () => {
  // In a child Deno with the GC exposed: 256 MiB faulted in, dropped, collected.
  const dir = Deno.makeTempDirSync({ prefix: "hs_buffers_" });
  try {
    const script = `${dir}/drop.ts`;
    Deno.writeTextFileSync(
      script,
      `import { CopyBuffers } from "${new URL("./copy_buffers.ts", import.meta.url).href}";
const rss = () => Number(/^Rss:\\s+(\\d+)/m.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"))![1]);
const before = rss();
(() => { const b = new CopyBuffers([256 << 20], 0); b.take(256 << 20)[0] = 1; })();
const held = rss();
let after = held;
for (let i = 0; i < 50 && after - before > 64 << 10; i++) {
  (globalThis as unknown as { gc: () => void }).gc();
  await new Promise((r) => setTimeout(r, 20)); // finalizers run on a later turn
  after = rss();
}
console.log(JSON.stringify({ before, held, after }));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", script],
      env: { HEAPSCOPE_HOME: new URL("..", import.meta.url).pathname },
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const { before, held, after } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert(held - before > 200 << 10, `256 MiB faulted in (RSS ${before} → ${held} kB)`);
    assert(after - before < 64 << 10, `RSS ${before} → ${held} → ${after} kB after the GC`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Kilobytes of this process's memory in [address, address + bytes) that are resident (smaps). */
function residentKb(address: number, bytes: number): number {
  let kb = 0, inside = false;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) inside = parseInt(m[1]!, 16) < address + bytes && parseInt(m[2]!, 16) > address;
    else if (inside && line.startsWith("Rss:")) kb += Number(/(\d+)/.exec(line)![1]);
  }
  return kb;
}

Deno.test("discardCopied() gives a piece's whole pages back: they read as zeros, the rest is kept", () => {
  const b = new CopyBuffers([32 << 20], 0);
  const whole = b.take(32 << 20);
  whole.fill(7);
  const base = address(whole);
  assert(residentKb(base, 32 << 20) >= 30 << 10, "faulted in");
  // A piece that starts and ends inside pages: only the whole pages between go.
  const piece = whole.subarray(100, (24 << 20) + 100);
  assertEquals(discardCopied(piece), true);
  const left = residentKb(base, 32 << 20);
  assert(left <= 10 << 10, `${left} kB of 32 MiB still resident after 24 MiB were given back`);
  assertEquals(whole[99], 7, "before the piece");
  assertEquals(whole[4095], 7, "the piece's first, partial page");
  assertEquals(whole[4096], 0, "the piece's first whole page");
  assertEquals(whole[(24 << 20) - 1], 0, "its last whole page");
  assertEquals(whole[24 << 20], 7, "its last, partial page");
  assert(piece.subarray(4096 - 100, (24 << 20) - 100).every((v) => v === 0));
  // The mapping stays: the pages can be written again.
  whole[4096] = 9;
  assertEquals(whole[4096], 9);
  // Memory that is not from CopyBuffers is left alone.
  const plain = new Uint8Array(1 << 20).fill(5);
  assertEquals(discardCopied(plain), false);
  assert(plain.every((v) => v === 5));
});

Deno.test("CopyBuffers.discardUnused() gives back what no piece was taken from, and keeps the pieces", () => {
  const b = new CopyBuffers([12 << 20], 8 << 20);
  const prepared = b.preparedBytes;
  const piece = b.take((12 << 20) - 100);
  piece.fill(3);
  const base = address(piece);
  assert(residentKb(base, prepared) >= (prepared >> 10) - 4096, "all prepared pages faulted in");
  // The piece ends 100 bytes short of a page: that page is the piece's, the rest goes back.
  assertEquals(b.discardUnused(), prepared - (12 << 20));
  const left = residentKb(base, prepared);
  assert(left <= (12 << 10) + 2048, `${left} kB resident of ${prepared >> 10} kB prepared`);
  assert(piece.every((v) => v === 3), "the piece's bytes are kept");
  // Nothing more comes from the prepared block: a later request gets fresh memory.
  assertEquals(b.take(4096).length, 4096);
  assertEquals(b.coldBytes, 4096);
  assertEquals(b.discardUnused(), 0);
});
