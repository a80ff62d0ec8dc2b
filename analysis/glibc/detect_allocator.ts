// Tells whether a process allocates with glibc malloc or a foreign allocator heapscope cannot parse.

import { MemoryImage } from "../memory.ts";
import type { Snapshot } from "../types.ts";
import { findMainArena } from "./arena.ts";
import { ALL_LAYOUTS } from "./layout.ts";
import { findLibc } from "./libc_image.ts";
import { heapSpan } from "./segments.ts";

export type AllocatorDetection =
  | { kind: "glibc" }
  | { kind: "foreign"; name: string; evidence: string; hint?: string }
  | { kind: "unknown"; evidence: string };

/** What to use instead, for a sanitizer: its runtime has a leak checker of its own. */
const SANITIZER_HINT = "A sanitizer's runtime replaces malloc and checks leaks itself: " +
  "LSAN_OPTIONS / ASAN_OPTIONS=detect_leaks=1 at exit, or __lsan_do_recoverable_leak_check() " +
  "while it runs (AddressSanitizer, LeakSanitizer); heapscope reads a build without it";

const FOREIGN_LIBS: { name: string; re: RegExp; hint?: string }[] = [
  { name: "jemalloc", re: /\/libjemalloc[^/]*\.so/ },
  { name: "tcmalloc", re: /\/libtcmalloc[^/]*\.so/ },
  { name: "mimalloc", re: /\/libmimalloc[^/]*\.so/ },
  { name: "musl", re: /\/(ld-musl-[^/]*\.so|libc\.musl-[^/]*\.so)/ },
  { name: "AddressSanitizer", re: /\/libasan\.so/, hint: SANITIZER_HINT },
  { name: "HWAddressSanitizer", re: /\/libhwasan\.so/, hint: SANITIZER_HINT },
  { name: "ThreadSanitizer", re: /\/libtsan\.so/, hint: SANITIZER_HINT },
  { name: "LeakSanitizer", re: /\/liblsan\.so/, hint: SANITIZER_HINT },
];
const FOREIGN_SYMBOLS: { name: string; symbols: string[]; hint?: string }[] = [
  { name: "jemalloc", symbols: ["mallocx", "je_malloc", "je_mallocx"] },
  { name: "tcmalloc", symbols: ["tc_malloc", "tcmalloc"] },
  { name: "mimalloc", symbols: ["mi_malloc"] },
  // Before LeakSanitizer: AddressSanitizer's runtime holds LeakSanitizer's too.
  { name: "AddressSanitizer", symbols: ["__asan_init"], hint: SANITIZER_HINT },
  { name: "HWAddressSanitizer", symbols: ["__hwasan_init"], hint: SANITIZER_HINT },
  { name: "MemorySanitizer", symbols: ["__msan_init"], hint: SANITIZER_HINT },
  { name: "ThreadSanitizer", symbols: ["__tsan_init"], hint: SANITIZER_HINT },
  { name: "LeakSanitizer", symbols: ["__lsan_init"], hint: SANITIZER_HINT },
];

/** A foreign allocator named by one of the mapped file paths, or undefined. */
export function foreignLibrary(
  paths: Iterable<string>,
): { name: string; evidence: string; hint?: string } | undefined {
  for (const { name, re, hint } of FOREIGN_LIBS) {
    for (const p of paths) {
      if (re.test(p)) return { name, evidence: `${p} is mapped`, ...(hint ? { hint } : {}) };
    }
  }
  return undefined;
}

/**
 * Looks at mapped libraries and image symbols: jemalloc, tcmalloc, mimalloc and musl are foreign;
 * a mapped libc.so.6 is glibc; a static executable is glibc only when main_arena is found in its data.
 */
export function detectAllocator(snapshot: Snapshot): AllocatorDetection {
  if (snapshot.foreignAllocator !== undefined) {
    return {
      kind: "foreign",
      name: snapshot.foreignAllocator,
      evidence: "reported by the capture layer",
    };
  }
  const paths = new Set([
    ...snapshot.regions.map((r) => r.path),
    ...snapshot.images.map((i) => i.path),
  ]);
  const lib = foreignLibrary(paths);
  if (lib) return { kind: "foreign", ...lib };
  for (const { name, symbols, hint } of FOREIGN_SYMBOLS) {
    for (const img of snapshot.images) {
      const s = symbols.find((n) => img.symbols?.[n] !== undefined);
      if (s !== undefined) {
        return {
          kind: "foreign",
          name,
          evidence: `${img.path} defines ${s}`,
          ...(hint ? { hint } : {}),
        };
      }
    }
  }
  const libc = findLibc(snapshot);
  if (libc === undefined) {
    return { kind: "unknown", evidence: "no libc.so.6 and no static executable found in the maps" };
  }
  if (!libc.isStatic) return { kind: "glibc" };
  // The static executable's glibc release is not known yet: any layout whose arena validates will do.
  const heap = heapSpan(snapshot.regions);
  const mem = new MemoryImage(snapshot.memory);
  for (const layout of ALL_LAYOUTS) {
    if (findMainArena(mem, libc, layout, heap, []) !== undefined) return { kind: "glibc" };
  }
  return {
    kind: "unknown",
    evidence: `static executable ${libc.path} has no libc.so.6 and no glibc main_arena in its data`,
  };
}
