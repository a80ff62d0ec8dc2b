// Tests of detectAllocator(): foreign allocators by mapping or symbol, glibc, static executables.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { detectAllocator } from "./mod.ts";
import { buildFixture, FakeProcess, writeArena } from "./testdata/fake_heap.ts";

/** The fixture process's snapshot with an image at `path` that defines `symbol`. */
function withSymbol(path: string, symbol: string) {
  const p = buildFixture().process;
  p.images.push({ path, bias: 0x400000, writable: [], symbols: { [symbol]: 0x401000 } });
  return p.snapshot();
}

Deno.test("detectAllocator() says glibc for a process with libc.so.6", () => {
  assertEquals(detectAllocator(buildFixture().process.snapshot()), { kind: "glibc" });
});

Deno.test("detectAllocator() names foreign allocators by mapped library", () => {
  const cases: [string, string][] = [
    ["/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "jemalloc"],
    ["/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.9", "tcmalloc"],
    ["/usr/local/lib/libmimalloc.so.2.1", "mimalloc"],
    ["/lib/ld-musl-x86_64.so.1", "musl"],
  ];
  for (const [path, name] of cases) {
    const p = buildFixture().process;
    p.map(0x7ffff7600000, 0x7ffff7601000, "r--p", path);
    assertEquals(detectAllocator(p.snapshot()), {
      kind: "foreign",
      name,
      evidence: `${path} is mapped`,
    });
  }
});

Deno.test("detectAllocator() names foreign allocators by symbol in a static image", () => {
  for (
    const [sym, name] of [["je_malloc", "jemalloc"], ["tc_malloc", "tcmalloc"], [
      "mi_malloc",
      "mimalloc",
    ]]
  ) {
    assertEquals(detectAllocator(withSymbol("/opt/app/server", sym!)), {
      kind: "foreign",
      name: name!,
      evidence: `/opt/app/server defines ${sym}`,
    });
  }
});

Deno.test("detectAllocator() names the sanitizers, mapped (gcc) or linked in (clang), with a hint to their own checker", () => {
  const mapped = buildFixture().process;
  mapped.map(0x7ffff7600000, 0x7ffff7601000, "r--p", "/usr/lib/x86_64-linux-gnu/libasan.so.8.0.0");
  const asan = detectAllocator(mapped.snapshot());
  assertEquals(asan.kind === "foreign" ? [asan.name, /detect_leaks=1/.test(asan.hint ?? "")] : [], [
    "AddressSanitizer",
    true,
  ]);
  for (
    const [sym, name] of [
      ["__asan_init", "AddressSanitizer"],
      ["__hwasan_init", "HWAddressSanitizer"],
      ["__msan_init", "MemorySanitizer"],
      ["__tsan_init", "ThreadSanitizer"],
      ["__lsan_init", "LeakSanitizer"],
    ]
  ) {
    const d = detectAllocator(withSymbol("/opt/app/checked", sym!));
    assertEquals(d.kind === "foreign" ? [d.name, d.evidence, !!d.hint] : [], [
      name,
      `/opt/app/checked defines ${sym}`,
      true,
    ]);
  }
});

Deno.test("detectAllocator() trusts the capture layer's foreign allocator", () => {
  const snap = buildFixture().process.snapshot();
  snap.foreignAllocator = "jemalloc";
  assertEquals(detectAllocator(snap).kind, "foreign");
});

Deno.test("detectAllocator() accepts a static executable only when its data holds main_arena", () => {
  const exe = "/opt/app/static-tool";
  const p = new FakeProcess();
  p.map(0x400000, 0x401000, "r--p", exe, 0);
  p.map(0x401000, 0x403000, "rw-p", exe, 0x1000);
  p.images.push({ path: exe, bias: 0x400000, writable: [{ start: 0x401000, end: 0x403000 }] });
  assertEquals(detectAllocator(p.snapshot()), {
    kind: "unknown",
    evidence: `static executable ${exe} has no libc.so.6 and no glibc main_arena in its data`,
  });
  writeArena(p, 0x401100, 0x401100 + 0x60, 0x401100, 0);
  assertEquals(detectAllocator(p.snapshot()), { kind: "glibc" });
});

Deno.test("detectAllocator() says unknown with no libc and no executable", () => {
  const p = new FakeProcess();
  p.map(0x10000, 0x11000, "rw-p");
  assertEquals(detectAllocator(p.snapshot()).kind, "unknown");
});
