// Root collection: the memory ranges and register values a conservative scan starts from.
//
// Roots, as LeakSanitizer takes them plus what an out-of-process tool needs: writable segments of
// every image, each thread's stack from SP (minus the x86_64 red zone) to the end of its mapping,
// each thread's TLS and DTV, the registers that can hold live values, and all other writable memory
// that is not heap. Allocator bookkeeping (arena structs, mp_, tcache structs) is subtracted.
//
// Weak evidence (a block held only through it is "possibly hidden", not reachable): the red zone
// below SP (live only in a leaf function), and vector registers (valgrind and LSan scan only
// general registers; a pointer copied through xmm by memcpy is dead once stored). A thread stopped
// in a system call holds nothing live in its caller-saved registers (the call clobbers them; its
// arguments are copies the caller keeps elsewhere if it needs them): only the callee-saved ones,
// SP and the thread pointer are roots there. O(regions · ranges).

import type { MemoryImage } from "./memory.ts";
import type { HeapEnumeration, RootKind, Snapshot, ThreadState } from "./types.ts";

export interface RootRange {
  start: number;
  end: number;
  kind: RootKind;
  thread?: number;
  image?: string;
  /** Weak evidence (the red zone below SP). */
  weak?: boolean;
}

export interface RegisterRoot {
  thread: number;
  name: string;
  value: number;
  /** Weak evidence (a vector register). */
  weak?: boolean;
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
  // The words below SP a leaf function may use without moving it (none past a recorder's exit).
  const redZone = (t: Snapshot["threads"][number]) =>
    t.belowSpDead ? 0 : RED_ZONE[snapshot.arch] ?? 0;

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
        const live = t.sp >= r.start && t.sp < t.tp ? t.sp - redZone(t) : 0;
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
    const from = Math.max(r.start, t.sp - redZone(t));
    staleStack.push({ start: r.start, end: from });
    const live = Math.max(r.start, Math.min(t.sp, r.end));
    add(subtract([{ start: from, end: live }], covered), {
      kind: "stack",
      thread: t.tid,
      weak: true,
    });
    add(subtract([{ start: live, end: r.end }], covered), { kind: "stack", thread: t.tid });
  }

  // Phase 3: every other writable region that is not heap and not the dead part of a stack.
  for (const r of writable) {
    if (SPECIAL.has(r.path)) continue;
    const rest = subtract([{ start: r.start, end: r.end }], [...covered, ...staleStack]);
    const isFile = r.path !== "" && !r.path.startsWith("[");
    add(rest, isFile ? { kind: "data", image: r.path } : { kind: "other" });
  }

  const registers: RegisterRoot[] = [];
  for (const t of snapshot.threads) registers.push(...registerRoots(snapshot.arch, t));
  ranges.sort((a, b) => a.start - b.start);
  return { ranges, registers, warnings };
}

/** x86_64 registers a function call preserves (SysV ABI), and what else stays live at a syscall. */
const X86_64_KEPT = new Set(["rbx", "rbp", "r12", "r13", "r14", "r15", "rsp", "fs_base"]);
/** aarch64 callee-saved registers (AAPCS64: x19–x28, fp, lr is the return address) and SP. */
const AARCH64_KEPT = new Set([
  ..."x19 x20 x21 x22 x23 x24 x25 x26 x27 x28 x29 sp".split(" "),
]);
/** orig_rax of a thread that is not in a system call (-1 as an unsigned 64-bit word). */
const NOT_IN_SYSCALL = 2 ** 64 - 1;

/**
 * Whether thread `t` was stopped in a system call: x86_64 keeps the call number in orig_rax (-1
 * otherwise); aarch64's general registers do not say, so it counts as in user code there.
 */
export function inSystemCall(arch: Snapshot["arch"], t: ThreadState): boolean {
  if (arch !== "x86_64") return false;
  const orig = t.registers.find((r) => r.name === "orig_rax")?.value;
  return orig !== undefined && orig < NOT_IN_SYSCALL && orig < 2 ** 32;
}

/** The register roots of one thread (see the header for which, and which are weak). */
export function registerRoots(arch: Snapshot["arch"], t: ThreadState): RegisterRoot[] {
  const syscall = inSystemCall(arch, t);
  const kept = arch === "x86_64" ? X86_64_KEPT : AARCH64_KEPT;
  const out: RegisterRoot[] = [];
  for (const reg of t.registers) {
    const vector = /^(xmm|ymm|zmm|v)\d+/.test(reg.name);
    if (syscall && !kept.has(reg.name)) continue;
    out.push({
      thread: t.tid,
      name: reg.name,
      value: reg.value,
      ...(vector ? { weak: true } : {}),
    });
  }
  return out;
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
