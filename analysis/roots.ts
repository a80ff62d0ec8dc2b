// Root collection: the memory ranges and register values a conservative scan starts from.
//
// Roots, as LeakSanitizer takes them plus what an out-of-process tool needs: writable segments of
// every image, each thread's stack from SP (minus the x86_64 red zone) to the end of its mapping,
// each thread's TLS and DTV, every register, and all other writable memory that is not heap.
// Allocator bookkeeping (arena structs, mp_, tcache structs) is subtracted. O(regions · ranges).

import type { MemoryImage } from "./memory.ts";
import type { HeapEnumeration, RootKind, Snapshot } from "./types.ts";

export interface RootRange {
  start: number;
  end: number;
  kind: RootKind;
  thread?: number;
  image?: string;
}

export interface RegisterRoot {
  thread: number;
  name: string;
  value: number;
}

export interface Roots {
  ranges: RootRange[];
  registers: RegisterRoot[];
  warnings: string[];
}

interface Span {
  start: number;
  end: number;
}

/** x86_64 SysV red zone: leaf functions may keep live values this far below SP. */
const RED_ZONE: Record<string, number> = { x86_64: 128, aarch64: 0 };
/** How far around the thread pointer static TLS and the thread descriptor reach (both variants). */
const TLS_REACH = 8192;
const SPECIAL = new Set(["[vvar]", "[vsyscall]", "[vdso]", "[vvar_vclock]"]);

/** [a] minus every span of `holes`; `holes` need not be sorted. */
export function subtract(spans: readonly Span[], holes: readonly Span[]): Span[] {
  const sorted = [...holes].filter((h) => h.end > h.start).sort((a, b) => a.start - b.start);
  const out: Span[] = [];
  for (const s of spans) {
    let cur = s.start;
    for (const h of sorted) {
      if (h.end <= cur) continue;
      if (h.start >= s.end) break;
      if (h.start > cur) out.push({ start: cur, end: Math.min(h.start, s.end) });
      cur = Math.max(cur, h.end);
      if (cur >= s.end) break;
    }
    if (cur < s.end) out.push({ start: cur, end: s.end });
  }
  return out;
}

export function collectRoots(
  snapshot: Snapshot,
  memory: MemoryImage,
  heap: HeapEnumeration,
): Roots {
  const warnings: string[] = [];
  const never: Span[] = [...heap.heapRanges, ...heap.excluded];
  const ranges: RootRange[] = [];
  const covered: Span[] = [];
  const add = (spans: Span[], meta: Omit<RootRange, "start" | "end">) => {
    for (const s of subtract(spans, never)) {
      ranges.push({ ...meta, start: s.start, end: s.end });
      covered.push(s);
    }
  };
  const writable = snapshot.regions.filter((r) => r.perms[0] === "r" && r.perms[1] === "w");
  const regionOf = (addr: number) => writable.find((r) => addr >= r.start && addr < r.end);

  // Phase 1: writable segments of every loaded image (.data, .bss, GOT).
  for (const image of snapshot.images) {
    add(image.writable, { kind: "data", image: image.path });
  }

  // Phase 2: per thread, TLS (static block, descriptor, DTV) and the live part of the stack.
  const staleStack: Span[] = [];
  for (const t of snapshot.threads) {
    if (t.tp) {
      const r = regionOf(t.tp);
      if (r) {
        // On a pthread the TLS sits at the top of the stack mapping: below this thread's SP the
        // stack is dead and may hold stale pointers, so the window never reaches below it.
        const live = t.sp >= r.start && t.sp < t.tp ? t.sp - (RED_ZONE[snapshot.arch] ?? 0) : 0;
        const tls = {
          start: Math.max(r.start, t.tp - TLS_REACH, live),
          end: Math.min(r.end, t.tp + TLS_REACH),
        };
        add(subtract([tls], covered), { kind: "tls", thread: t.tid });
      }
      // The DTV is glibc's; on macOS the thread pointer is the TSD base, which has none.
      const dtv = snapshot.platform === "linux" ? dtvRange(snapshot, memory, t.tp) : undefined;
      if (dtv) add(subtract([dtv], covered), { kind: "tls", thread: t.tid });
    }
    const r = regionOf(t.sp);
    if (!r) {
      warnings.push(
        `thread ${t.tid}: stack pointer 0x${t.sp.toString(16)} is outside every writable region`,
      );
      continue;
    }
    const from = Math.max(r.start, t.sp - (RED_ZONE[snapshot.arch] ?? 0));
    staleStack.push({ start: r.start, end: from });
    add(subtract([{ start: from, end: r.end }], covered), { kind: "stack", thread: t.tid });
  }

  // Phase 3: every other writable region that is not heap and not the dead part of a stack.
  for (const r of writable) {
    if (SPECIAL.has(r.path)) continue;
    const rest = subtract([{ start: r.start, end: r.end }], [...covered, ...staleStack]);
    const isFile = r.path !== "" && !r.path.startsWith("[");
    add(rest, isFile ? { kind: "data", image: r.path } : { kind: "other" });
  }

  const registers: RegisterRoot[] = [];
  for (const t of snapshot.threads) {
    for (const reg of t.registers) registers.push({ thread: t.tid, ...reg });
  }
  ranges.sort((a, b) => a.start - b.start);
  return { ranges, registers, warnings };
}

/** The dynamic thread vector of the thread whose pointer is `tp` (x86_64: *(tp+8); aarch64: *tp). */
function dtvRange(snapshot: Snapshot, memory: MemoryImage, tp: number): Span | undefined {
  const dtv = memory.u64(snapshot.arch === "x86_64" ? tp + 8 : tp);
  if (!dtv || dtv % 8 !== 0) return undefined;
  const len = memory.u64(dtv - 16);
  // dtv[-1].counter is the number of slots; bound it so corrupt memory cannot ask for gigabytes.
  if (len === undefined || len > 65536) return undefined;
  return { start: dtv - 16, end: dtv + (len + 1) * 16 };
}
