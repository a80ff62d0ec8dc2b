// Decoders for the Mach thread states hs_thread_regs returns on macOS (pure; byte layouts from
// Apple's <mach/arm/_structs.h> and <mach/i386/_structs.h>, pinned by _Static_assert in
// shim/heapscope_macos.c).
//
//   ARM_THREAD_STATE64 (flavor 6, 272 bytes): x0..x28, fp, lr, sp, pc (u64), cpsr, flags (u32)
//   ARM_NEON_STATE64  (flavor 17, 528 bytes): v0..v31 (u128), fpsr, fpcr (u32), padding
//   x86_THREAD_STATE64 (flavor 4, 168 bytes): rax rbx rcx rdx rdi rsi rbp rsp r8..r15 rip rflags
//                                              cs fs gs (u64 each)
//   x86_FLOAT_STATE64  (flavor 5, 524 bytes): x87 control words, st0..st7 at 40, xmm0..15 at 168
//
// On arm64e the kernel may hand back fp/lr/sp/pc signed (flags bit 0 "no ptrauth" clear), so those
// four are PAC-stripped; other registers are data and kept as their 64-bit value (a value above
// 2^53 loses precision as a number, but such a value is never a user address).

import { stripPacHalves } from "./pac.ts";
import type { Arch } from "./types.ts";

export const ARM_THREAD_STATE64_SIZE = 272;
export const ARM_NEON_STATE64_SIZE = 528;
export const X86_THREAD_STATE64_SIZE = 168;
export const X86_FLOAT_STATE64_SIZE = 524;
/** __DARWIN_ARM_THREAD_STATE64_FLAGS_NO_PTRAUTH: fp/lr/sp/pc are plain addresses. */
export const ARM_FLAGS_NO_PTRAUTH = 0x1;

const X86_GPR_NAMES = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rdi",
  "rsi",
  "rbp",
  "rsp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
  "cs",
  "fs",
  "gs",
] as const; // deno-fmt-ignore
const TWO32 = 4294967296;

export interface Register {
  name: string;
  value: number;
}

/** A decoded general-register state. */
export interface MachThreadState {
  sp: number;
  pc: number;
  /** Frame pointer (x29 / rbp). */
  fp: number;
  /** Link register (arm64 only; 0 on x86_64). */
  lr: number;
  /** Every register in the kernel's order (PAC-stripped where it is a code or stack address). */
  registers: Register[];
  /** arm64 __opaque_flags / 0 on x86_64. */
  flags: number;
}

function need(bytes: Uint8Array, size: number, what: string): DataView {
  if (bytes.length < size) {
    throw new RangeError(`Cannot decode ${what}: ${bytes.length} bytes, expected ${size}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

function u64(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * TWO32;
}

function stripped(v: DataView, off: number): number {
  return stripPacHalves(v.getUint32(off, true), v.getUint32(off + 4, true));
}

/** Decode ARM_THREAD_STATE64. */
export function decodeArmThreadState64(bytes: Uint8Array): MachThreadState {
  const v = need(bytes, ARM_THREAD_STATE64_SIZE, "ARM_THREAD_STATE64");
  const registers: Register[] = [];
  for (let i = 0; i < 29; i++) registers.push({ name: `x${i}`, value: u64(v, i * 8) });
  const fp = stripped(v, 232), lr = stripped(v, 240), sp = stripped(v, 248), pc = stripped(v, 256);
  registers.push({ name: "fp", value: fp }, { name: "lr", value: lr }, { name: "sp", value: sp });
  registers.push({ name: "pc", value: pc });
  const cpsr = v.getUint32(264, true);
  registers.push({ name: "cpsr", value: cpsr });
  return { sp, pc, fp, lr, registers, flags: v.getUint32(268, true) };
}

/** Decode x86_THREAD_STATE64. */
export function decodeX86ThreadState64(bytes: Uint8Array): MachThreadState {
  const v = need(bytes, X86_THREAD_STATE64_SIZE, "x86_THREAD_STATE64");
  const registers = X86_GPR_NAMES.map((name, i) => ({ name, value: u64(v, i * 8) }));
  return {
    sp: u64(v, 7 * 8),
    pc: u64(v, 16 * 8),
    fp: u64(v, 6 * 8),
    lr: 0,
    registers,
    flags: 0,
  };
}

/** Vector registers as 64-bit halves: v0 (low) and v0.hi, ... (pointers may sit in either). */
export function decodeArmNeonState64(bytes: Uint8Array): Register[] {
  const v = need(bytes, ARM_NEON_STATE64_SIZE, "ARM_NEON_STATE64");
  const out: Register[] = [];
  for (let i = 0; i < 32; i++) {
    out.push({ name: `v${i}`, value: u64(v, i * 16) }, {
      name: `v${i}.hi`,
      value: u64(v, i * 16 + 8),
    });
  }
  return out;
}

/** xmm0..xmm15 as 64-bit halves (the x87 stack holds no pointers worth scanning). */
export function decodeX86FloatState64(bytes: Uint8Array): Register[] {
  const v = need(bytes, X86_FLOAT_STATE64_SIZE, "x86_FLOAT_STATE64");
  const out: Register[] = [];
  for (let i = 0; i < 16; i++) {
    const off = 168 + i * 16;
    out.push({ name: `xmm${i}`, value: u64(v, off) }, {
      name: `xmm${i}.hi`,
      value: u64(v, off + 8),
    });
  }
  return out;
}

/** Decode hs_thread_regs kind 0 (general registers) for `arch`. */
export function decodeMachThreadState(arch: Arch, bytes: Uint8Array): MachThreadState {
  return arch === "aarch64" ? decodeArmThreadState64(bytes) : decodeX86ThreadState64(bytes);
}

/** Decode hs_thread_regs kind 1 (vector registers) for `arch`. */
export function decodeMachVectorState(arch: Arch, bytes: Uint8Array): Register[] {
  return arch === "aarch64" ? decodeArmNeonState64(bytes) : decodeX86FloatState64(bytes);
}
