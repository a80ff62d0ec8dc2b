// unwindStack(): the call chain of a stopped thread from its registers, its stack and the CFI of
// the images its code runs in.
//
// Each step tries, in order:
//   1. CFI (.eh_frame): exact wherever the compiler emitted it, which for GCC and Clang on Linux is
//      every function of every image (-fasynchronous-unwind-tables is the default on x86_64 and
//      aarch64), hand-written assembly included in glibc.
//   2. Frame pointers: for code without CFI (JIT code, stripped or hand-written code) that keeps
//      the frame chain (rbp/x29 → saved frame pointer, return address above it). Accepted only when
//      the saved frame pointer stays on the stack and the return address follows a call.
//   3. Scanning the stack for a return address: the first word above SP that points into code right
//      after a call instruction. It can pick a stale return address, so it is tried last and its
//      frames say so (`method: "scan"`).
// Each frame owns the stack slots [its SP, its CFA): its locals, spills, saved registers and (at
// CFA − 8 on x86_64) the return address into its caller; the outermost frame owns the rest of the
// stack. O(frames · (log FDEs + CFI instructions)), plus O(scanned words) for a scanned step.

import type { Arch } from "../types.ts";
import type { CfiRow } from "./cfi.ts";
import { CfiError } from "./dwarf_cursor.ts";
import { evaluateExpression } from "./dwarf_expr.ts";
import type { CfiTable } from "./eh_frame.ts";
import { lastAtOrBelow } from "../sorted.ts";

/** How a frame's PC and SP were recovered. */
export type FrameMethod = "registers" | "cfi" | "frame-pointer" | "scan";

export interface Frame {
  /** Frame 0: the thread's PC; outer frames: the return address into them. */
  pc: number;
  /** Stack pointer of this frame (for outer frames, the SP right after the call returns). */
  sp: number;
  /** Canonical frame address: the caller's SP once this frame returns; undefined when unknown. */
  cfa: number | undefined;
  method: FrameMethod;
  /** Path of the image `pc` lies in, when known. */
  image?: string;
  /** The stack bytes this frame owns: [sp, cfa) (to the end of the stack when cfa is unknown). */
  slots: { start: number; end: number };
}

/** One loaded image as the unwinder sees it. */
export interface UnwindImage {
  path: string;
  /** Runtime address = bias + link-time address. */
  bias: number;
  /** Runtime [start, end) of its executable mappings. */
  text: { start: number; end: number }[];
  /** Its .eh_frame, when it has one. */
  cfi?: CfiTable;
  /** Bytes of its code at link-time `vaddr` (for the call-site check), when available. */
  code?: (vaddr: number, length: number) => Uint8Array | undefined;
}

/** The images of a process, found by runtime address. O(log mappings) per lookup. */
export class CodeMap {
  #starts: number[] = [];
  #ends: number[] = [];
  #images: UnwindImage[] = [];

  constructor(images: readonly UnwindImage[]) {
    const spans: { start: number; end: number; image: UnwindImage }[] = [];
    for (const image of images) for (const t of image.text) spans.push({ ...t, image });
    spans.sort((a, b) => a.start - b.start);
    for (const s of spans) {
      this.#starts.push(s.start);
      this.#ends.push(s.end);
      this.#images.push(s.image);
    }
  }

  /** The image whose code contains runtime address `pc`. */
  find(pc: number): UnwindImage | undefined {
    const starts = this.#starts;
    const found = lastAtOrBelow(starts.length, (i) => starts[i]!, pc);
    return found >= 0 && pc < this.#ends[found]! ? this.#images[found] : undefined;
  }
}

/** DWARF register numbers that the unwinder needs, per architecture (psABI tables). */
export interface ArchRegisters {
  sp: number;
  fp: number;
  /** The CFI column of the return address. */
  ra: number;
  /** Names of ThreadState registers → DWARF numbers. */
  numbers: Record<string, number>;
}

export const DWARF_REGISTERS: Record<Arch, ArchRegisters> = {
  // System V x86_64 psABI, Figure 3.36: rip is column 16 (the return address).
  x86_64: {
    sp: 7,
    fp: 6,
    ra: 16,
    numbers: {
      rax: 0,
      rdx: 1,
      rcx: 2,
      rbx: 3,
      rsi: 4,
      rdi: 5,
      rbp: 6,
      rsp: 7,
      r8: 8,
      r9: 9,
      r10: 10,
      r11: 11,
      r12: 12,
      r13: 13,
      r14: 14,
      r15: 15,
      rip: 16,
    },
  },
  // AAPCS64 DWARF: x0–x30 are 0–30, sp 31; the return address is x30 (LR).
  aarch64: {
    sp: 31,
    fp: 29,
    ra: 30,
    numbers: Object.fromEntries([
      ...Array.from({ length: 31 }, (_, i) => [`x${i}`, i] as const),
      ["sp", 31] as const,
    ]),
  },
};

/** DWARF-numbered register values of a thread, from named registers (ThreadState.registers). */
export function dwarfRegisters(
  arch: Arch,
  named: readonly { name: string; value: number }[],
): Map<number, number> {
  const numbers = DWARF_REGISTERS[arch].numbers;
  const out = new Map<number, number>();
  for (const r of named) {
    const n = numbers[r.name];
    if (n !== undefined) out.set(n, r.value);
  }
  return out;
}

export interface UnwindInput {
  arch: Arch;
  pc: number;
  sp: number;
  /** DWARF-numbered register values of the innermost frame (callee-saved ones matter most). */
  registers: Map<number, number>;
  /** The 8-byte little-endian word at `address`, or undefined when it cannot be read. */
  readWord: (address: number) => number | undefined;
  images: CodeMap;
  /** The thread's stack mapping: every frame's SP and CFA must lie in it. */
  stack: { start: number; end: number };
  /** At most this many frames (default 64). */
  maxFrames?: number;
  /** Words scanned above SP for a return address when no other method works (default 512). */
  scanWords?: number;
  /** Stop after the first frame for which this is true (the caller has what it needs). */
  stopAfter?: (frame: Frame) => boolean;
}

/** Largest stack frame accepted from CFI: a step further than this is taken as a bad unwind. */
const MAX_FRAME_BYTES = 16 << 20;
/** Default words scanned for a return address: 4 KiB, a few frames of typical C code. */
const SCAN_WORDS = 512;

interface Cursor {
  pc: number;
  sp: number;
  regs: Map<number, number>;
  /** The previous frame was a signal trampoline: `pc` is exact, not a return address. */
  exactPc: boolean;
}

/** The frames of a thread, innermost first. Never throws on bad data: the walk just ends. */
export function unwindStack(input: UnwindInput): Frame[] {
  const arch = DWARF_REGISTERS[input.arch];
  const max = input.maxFrames ?? 64;
  const frames: Frame[] = [];
  const regs = new Map(input.registers);
  regs.set(arch.sp, input.sp);
  if (input.arch === "x86_64") regs.set(arch.ra, input.pc);
  let cur: Cursor = { pc: input.pc, sp: input.sp, regs, exactPc: true };
  let method: FrameMethod = "registers";
  while (frames.length < max) {
    const image = input.images.find(cur.pc);
    const frame: Frame = {
      pc: cur.pc,
      sp: cur.sp,
      cfa: undefined,
      method,
      slots: { start: cur.sp, end: input.stack.end },
    };
    if (image) frame.image = image.path;
    frames.push(frame);
    if (input.stopAfter?.(frame)) break;
    const next = stepCfi(input, arch, cur, image, frames.length === 1) ??
      stepFramePointer(input, arch, cur) ??
      stepScan(input, cur, frames.length === 1);
    if (!next) break;
    frame.cfa = next.cfa;
    frame.slots.end = next.cfa;
    if (next.cursor === undefined) break; // the outermost frame: its return address is undefined
    cur = next.cursor;
    method = next.method;
  }
  return frames;
}

interface Step {
  cfa: number;
  cursor: Cursor | undefined;
  method: FrameMethod;
}

function onStack(input: UnwindInput, a: number): boolean {
  return a >= input.stack.start && a <= input.stack.end;
}

/** The step to the caller's frame with CFI, or undefined when there is none for this PC. */
function stepCfi(
  input: UnwindInput,
  arch: ArchRegisters,
  cur: Cursor,
  image: UnwindImage | undefined,
  innermost: boolean,
): Step | undefined {
  if (!image?.cfi) return undefined;
  // A return address may be one past the end of its function (a call to a noreturn function):
  // look up the call instruction, one byte before it.
  const lookup = cur.pc - image.bias - (cur.exactPc || innermost ? 0 : 1);
  let row: CfiRow;
  try {
    const r = image.cfi.row(lookup);
    if (!r) return undefined;
    row = r;
  } catch (e) {
    if (e instanceof CfiError) return undefined;
    throw e;
  }
  try {
    const ctx = {
      register: (n: number) => cur.regs.get(n),
      read: (address: number, size: number) => {
        const w = input.readWord(address);
        return w === undefined || size === 8 ? w : w % 2 ** (8 * size);
      },
    };
    let cfa: number;
    if ("expr" in row.cfa) cfa = evaluateExpression(row.cfa.expr, ctx);
    else {
      const base = cur.regs.get(row.cfa.register);
      if (base === undefined) return undefined;
      cfa = base + row.cfa.offset;
    }
    if (!onStack(input, cfa) || cfa < cur.sp || cfa - cur.sp > MAX_FRAME_BYTES) return undefined;
    const regs = new Map(cur.regs);
    for (const [reg, rule] of row.registers) {
      switch (rule.kind) {
        case "undefined":
          regs.delete(reg);
          break;
        case "same":
          break;
        case "offset": {
          const v = input.readWord(cfa + rule.offset);
          if (v === undefined) return undefined;
          regs.set(reg, v);
          break;
        }
        case "val_offset":
          regs.set(reg, cfa + rule.offset);
          break;
        case "register": {
          const v = cur.regs.get(rule.register);
          if (v === undefined) regs.delete(reg);
          else regs.set(reg, v);
          break;
        }
        case "expression": {
          const v = input.readWord(evaluateExpression(rule.expr, ctx, cfa));
          if (v === undefined) return undefined;
          regs.set(reg, v);
          break;
        }
        case "val_expression":
          regs.set(reg, evaluateExpression(rule.expr, ctx, cfa));
          break;
      }
    }
    const explicit = row.registers.get(row.returnRegister);
    // The outermost frame marks its return address undefined (_start, clone's child, start_thread).
    if (explicit?.kind === "undefined") return { cfa, cursor: undefined, method: "cfi" };
    const ra = regs.get(row.returnRegister);
    if (ra === undefined || ra === 0) return { cfa, cursor: undefined, method: "cfi" };
    // No progress is a loop (aarch64 leaf with LR "same" seen twice), not a frame.
    if (cfa === cur.sp && ra === cur.pc) return undefined;
    regs.set(arch.sp, cfa);
    if (row.returnRegister !== arch.ra) regs.set(arch.ra, ra);
    return {
      cfa,
      cursor: { pc: ra, sp: cfa, regs, exactPc: row.signalFrame },
      method: "cfi",
    };
  } catch (e) {
    if (e instanceof CfiError) return undefined;
    throw e;
  }
}

/** The step through a frame-pointer chain, or undefined when it does not look like one. */
function stepFramePointer(input: UnwindInput, arch: ArchRegisters, cur: Cursor): Step | undefined {
  const fp = cur.regs.get(arch.fp);
  if (fp === undefined || fp % 8 !== 0 || fp < cur.sp || !onStack(input, fp + 16)) return undefined;
  // x86_64: [fp] = caller's rbp, [fp+8] = return address, caller's SP = fp + 16.
  // aarch64: [x29] = caller's x29, [x29+8] = x30 (the frame record); the caller's SP is unknown
  // from the record alone, fp + 16 is its lower bound.
  const savedFp = input.readWord(fp), ra = input.readWord(fp + 8);
  if (savedFp === undefined || ra === undefined) return undefined;
  if (savedFp !== 0 && (savedFp <= fp || !onStack(input, savedFp))) return undefined;
  if (!followsCall(input, ra)) return undefined;
  const cfa = fp + 16;
  const regs = new Map(cur.regs);
  regs.set(arch.fp, savedFp);
  regs.set(arch.sp, cfa);
  regs.set(arch.ra, ra);
  return { cfa, cursor: { pc: ra, sp: cfa, regs, exactPc: false }, method: "frame-pointer" };
}

/** The step to the first plausible return address above SP, or undefined. */
function stepScan(input: UnwindInput, cur: Cursor, innermost: boolean): Step | undefined {
  const words = input.scanWords ?? SCAN_WORDS;
  const arch = DWARF_REGISTERS[input.arch];
  // aarch64 keeps the innermost return address in x30 until the prologue stores it.
  if (innermost && input.arch === "aarch64") {
    const lr = cur.regs.get(arch.ra);
    if (lr !== undefined && lr !== cur.pc && followsCall(input, lr)) {
      const regs = new Map(cur.regs);
      return { cfa: cur.sp, cursor: { pc: lr, sp: cur.sp, regs, exactPc: false }, method: "scan" };
    }
  }
  const from = cur.sp - (cur.sp % 8);
  for (let i = 0; i < words; i++) {
    const slot = from + i * 8;
    if (!onStack(input, slot + 8)) break;
    const v = input.readWord(slot);
    if (v === undefined) break;
    if (v === cur.pc || !followsCall(input, v)) continue;
    const cfa = slot + 8;
    const regs = new Map(cur.regs);
    regs.set(arch.sp, cfa);
    regs.set(arch.ra, v);
    return { cfa, cursor: { pc: v, sp: cfa, regs, exactPc: false }, method: "scan" };
  }
  return undefined;
}

/**
 * Whether `ra` is in an image's code right after a call instruction: the check that keeps
 * frame-pointer and scanned frames honest. Without the code bytes, being in code is all we know.
 */
function followsCall(input: UnwindInput, ra: number): boolean {
  const image = input.images.find(ra);
  if (!image) return false;
  if (!image.code) return true;
  const vaddr = ra - image.bias;
  if (input.arch === "aarch64") {
    const b = image.code(vaddr - 4, 4);
    if (!b || b.length < 4) return false;
    const insn = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    return (insn & 0xfc000000) >>> 0 === 0x94000000 || // BL imm26
      (insn & 0xfffffc1f) >>> 0 === 0xd63f0000 || // BLR Xn
      (insn & 0xfffff800) >>> 0 === 0xd63f0800; // BLRAA/BLRAB (pointer authentication)
  }
  const b = image.code(vaddr - 7, 7);
  if (!b || b.length < 7) return false;
  // call rel32: E8 xx xx xx xx.
  if (b[2] === 0xe8) return true;
  // call r/m64: FF /2 — ModRM reg field 2, with 0–5 bytes of SIB/displacement after it, so the
  // FF sits 2 to 7 bytes before the return address. Check the ModRM decodes to exactly that length.
  for (let len = 2; len <= 7; len++) {
    const at = 7 - len;
    if (b[at] !== 0xff) continue;
    const modrm = b[at + 1]!;
    if (((modrm >> 3) & 7) !== 2) continue;
    if (modrmLength(modrm, b[at + 2]) + 1 === len) return true;
  }
  return false;
}

/** Bytes of ModRM + SIB + displacement for x86_64 `modrm` (and its SIB byte when there is one). */
function modrmLength(modrm: number, sib: number | undefined): number {
  const mod = modrm >> 6, rm = modrm & 7;
  if (mod === 3) return 1;
  let n = 1;
  if (rm === 4) {
    n++; // SIB
    if (mod === 0 && sib !== undefined && (sib & 7) === 5) return n + 4; // disp32, no base
  }
  if (mod === 0 && rm === 5) return n + 4; // rip-relative disp32
  if (mod === 1) return n + 1;
  if (mod === 2) return n + 4;
  return n;
}
