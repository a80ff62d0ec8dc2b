// Fuzz tests of every parser of target memory: seeded mutations, no crash, no hang, bounded output.
//
// Each target runs a fixed number of deterministic inputs (base seed below) in Workers with a 2 s
// per-input bound; `deno run -A bench/fuzz.ts` runs the same targets for longer and replays seeds.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { analyze } from "./analyze.ts";
import { enumerateGlibc } from "./glibc/mod.ts";
import { buildFixture, HEAP_END, MAIN_ARENA, TARENA } from "./glibc/testdata/fake_heap.ts";
import { protect } from "./glibc/safe_link.ts";
import { formatTally, fuzz, Runner, type Tally } from "./testdata/fuzz_harness.ts";
import { MACHO_FILES, runInput, type Target } from "./testdata/fuzz_targets.ts";
import { mutateSnapshot, Rng } from "./testdata/mutate.ts";
import { getHeapBase } from "./testdata/fuzz_targets.ts";

const hex = (n: number) => "0x" + n.toString(16);
const BASE_SEED = 20260121;
const TIMEOUT_MS = 2000;
const MAX_RSS = 1.5 * 2 ** 30;

const haveMachO = MACHO_FILES.every((f) => {
  try {
    return Deno.statSync(f).isFile;
  } catch {
    return false;
  }
});
if (!haveMachO) console.warn("fuzz_test: Mach-O fuzzing SKIPPED: run `make shim-macos` first");

function report(t: Tally): string {
  const lines = [formatTally(t)];
  for (const f of t.failures.slice(0, 10)) {
    lines.push(`  ${f.kind} seed ${f.seed}: ${f.detail}`);
    lines.push(`    replay: deno run -A bench/fuzz.ts --target ${f.target} --replay ${f.seed}`);
    for (const op of f.ops) lines.push(`    - ${op}`);
  }
  return lines.join("\n");
}

// Two Workers shared by every fuzz test (a Worker costs a type check and a module load to start).
let pool: Runner[] | undefined;

function fuzzTest(target: Target, count: number, what: string, ignore = false): void {
  Deno.test({
    name: `fuzz: ${what} survives ${count} mutated inputs (no crash, no hang, bounded output)`,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      pool ??= [new Runner(), new Runner()];
      const t = await fuzz({ target, pool, baseSeed: BASE_SEED, count, timeoutMs: TIMEOUT_MS });
      console.log(formatTally(t));
      assertEquals(t.inputs, count);
      assert(t.crashes + t.hangs + t.invariants === 0, report(t));
      assert(t.maxMs < TIMEOUT_MS, `slowest input took ${t.maxMs} ms (seed ${t.maxMsSeed})`);
      assert(t.maxRss < MAX_RSS, `RSS reached ${t.maxRss} bytes`);
      assert(t.ok > 0 && t.rejected + t.ok === count, report(t));
    },
  });
}

fuzzTest("glibc", 4000, "enumerateGlibc() on corrupted glibc heaps");
fuzzTest("analyze", 3000, "analyze() (roots, scan, SCC) on corrupted glibc heaps");
fuzzTest("elf", 2000, "ElfFile on mutated /bin/true and libc.so.6");
fuzzTest("macho", 2000, "parseMachOFile() on mutated shim dylibs and a fat file", !haveMachO);
fuzzTest("dyld", 1000, "decodeDyldImages() on a mutated dyld_all_image_infos");
fuzzTest("thread", 500, "Mach thread-state decoders on short and random states");
fuzzTest("leaks", 2000, "parseLeaksText() on damaged leaks.json");

Deno.test({
  name: "fuzz: an input that blocks its Worker is cut off at the time bound and the next one runs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = new Runner();
    try {
      assert(await r.run("thread", 0, 120_000, true), "warm-up answers");
      const t0 = performance.now();
      assertEquals(await r.run("thread", 1, 300, false, 60_000), undefined);
      assert(performance.now() - t0 < 30_000, "the hang was cut off");
      assertEquals((await r.run("thread", 1, 2000))?.outcome.kind !== undefined, true);
    } finally {
      r.close();
    }
  },
});

Deno.test({
  name: "fuzz: the shared workers close",
  sanitizeOps: false,
  sanitizeResources: false,
  fn() {
    for (const r of pool ?? []) r.close();
    pool = undefined;
  },
});

Deno.test("fuzz: inputs are deterministic: a seed rebuilds the same mutations and outcome", () => {
  for (const seed of [1, 2, 0xdeadbeef]) {
    const a = runInput("glibc", seed), b = runInput("glibc", seed);
    assertEquals(a, b);
    assert((a.ops ?? []).length > 0);
  }
  const base = getHeapBase();
  const before = base.snapshot.memory.map((m) => m.bytes.slice());
  for (let s = 0; s < 200; s++) mutateSnapshot(new Rng(s), base.snapshot, base.hints, 6);
  // Copy-on-write: mutating never touches the base snapshot's bytes.
  base.snapshot.memory.forEach((m, i) => assert(m.bytes.every((b, k) => b === before[i]![k])));
});

Deno.test("fuzz: seeds that once crashed a parser stay fixed", () => {
  // elf: a PT_NOTE size of 2^31+ wrapped align4 negative (RangeError in findBuildId).
  for (const seed of [1523521661, 2171776277]) {
    const o = runInput("elf", seed);
    assert(o.kind === "ok" || o.kind === "rejected", `elf seed ${seed}: ${o.kind} ${o.detail}`);
  }
  // macho: a segment name holding a newline once crashed the parser. The seeds mutate the dylib
  // this checkout builds, whose bytes change with the shim: what must hold is no crash.
  for (const seed of [3075336276, 716959828]) {
    const o = runInput("macho", seed);
    assert(o.kind === "ok" || o.kind === "rejected", `macho seed ${seed}: ${o.kind} ${o.detail}`);
  }
});

for (
  const [label, size] of [
    ["an impossible size", 0x12345678],
    ["a huge size", 2 ** 52 + 1],
    ["a size running past the heap end", 0x21001],
    ["a size too small", 0x8],
    ["a zero size", 0],
    ["a stray fencepost size", 0x11],
  ] as const
) {
  Deno.test(`enumerateGlibc() reports a main-heap chunk with ${label} as corrupt and keeps the thread arena and mmapped chunks`, () => {
    const { process, expected, c } = buildFixture();
    process.chunk(c.d!, size);
    const snap = process.snapshot();
    const heap = enumerateGlibc(snap);
    const corrupt = heap.warnings.filter((w) => /corrupt/.test(w));
    assert(corrupt.length > 0, `no corruption warning in ${JSON.stringify(heap.warnings)}`);
    const named = corrupt.flatMap((w) =>
      [...w.matchAll(/0x[0-9a-f]+/g)].map((m) => parseInt(m[0], 16))
    );
    assert(
      named.some((a) => a >= c.d! && a < c.d! + 0x40),
      `no address near ${hex(c.d!)}: ${corrupt}`,
    );
    // Everything outside the main heap is still found: the thread arena and both mmapped chunks.
    const elsewhere = expected.filter((a) => a.address > HEAP_END);
    assertEquals(elsewhere.map((a) => a.zone).sort(), [
      "arena 0x7fffe8000030",
      "arena 0x7fffe8000030",
      "mmap",
      "mmap",
    ]);
    for (const a of elsewhere) {
      assert(
        heap.allocations.toArray().some((b) => b.address === a.address && b.size === a.size),
        `lost ${hex(a.address)}`,
      );
    }
    // And the chunks before the corrupt one.
    for (const a of expected.filter((a) => a.address < c.d!)) {
      assert(
        heap.allocations.toArray().some((b) => b.address === a.address),
        `lost ${hex(a.address)}`,
      );
    }
    // The full analysis still runs on it.
    const analysis = analyze(snap);
    assertEquals(analysis.status.length, heap.allocations.length);
  });
}

Deno.test("enumerateGlibc() reports tcache and fastbin cycles and still lists the other arenas", () => {
  const { process, expected, c } = buildFixture();
  process.w64(c.t1! + 16, protect(c.t1! + 16, c.t2! + 16)); // t2 -> t1 -> t2 -> ...
  process.w64(c.fast! + 16, protect(c.fast! + 16, c.fast!)); // fast -> fast
  const heap = enumerateGlibc(process.snapshot());
  assert(
    heap.warnings.some((w) => /tcache 0x[0-9a-f]+ bin 0: cycle at 0x/.test(w)),
    String(heap.warnings),
  );
  assert(
    heap.warnings.some((w) => /fastbin 5 of main-arena: cycle at 0x/.test(w)),
    String(heap.warnings),
  );
  for (const a of expected.filter((a) => a.address > HEAP_END)) {
    assert(
      heap.allocations.toArray().some((b) => b.address === a.address),
      `lost ${hex(a.address)}`,
    );
  }
});

Deno.test("enumerateGlibc() trusts the main_arena symbol when the arena ring loops without it", () => {
  const { process, expected } = buildFixture();
  process.images[0]!.symbols = { main_arena: MAIN_ARENA };
  process.w64(TARENA + 0x870, TARENA); // the thread arena's next points to itself
  // No loop, no TypeError, no refusal: both arenas reached before the bad link are analysed.
  const heap = enumerateGlibc(process.snapshot());
  assertEquals(heap.allocations.toArray(), expected);
  assert(
    heap.warnings.some((w) => w.startsWith(`arena ring broken at ${hex(TARENA)}`)),
    String(heap.warnings),
  );
});
