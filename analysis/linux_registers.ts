// Decode Linux's raw register sets (NT_PRSTATUS, NT_PRFPREG) into named ThreadState words (pure).

import type { Arch, ThreadState } from "./types.ts";

const TWO32 = 4294967296;

/** x86_64 struct user_regs_struct, in kernel order (27 × u64, 216 bytes). */
export const X86_64_GP = [
  "r15",
  "r14",
  "r13",
  "r12",
  "rbp",
  "rbx",
  "r11",
  "r10",
  "r9",
  "r8",
  "rax",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "orig_rax",
  "rip",
  "cs",
  "eflags",
  "rsp",
  "ss",
  "fs_base",
  "gs_base",
  "ds",
  "es",
  "fs",
  "gs",
] as const;

/** Byte size of the general register set the kernel returns for a 64-bit tracee. */
export const GP_SIZE: Record<Arch, number> = { x86_64: 216, aarch64: 272 };

/**
 * A ThreadState from raw register sets. `fp` is NT_PRFPREG (x86_64: FXSAVE, xmm at +160; aarch64:
 * user_fpsimd_state, v0 at +0), or undefined when it could not be read.
 */
export function decodeRegisters(
  arch: Arch,
  tid: number,
  gp: Uint8Array,
  fp: Uint8Array | undefined,
  tp: number,
): ThreadState {
  const registers: { name: string; value: number }[] = [];
  const g = new DataView(gp.buffer, gp.byteOffset, gp.byteLength);
  const word = (v: DataView, o: number) => v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO32;
  let sp = 0, pc = 0;
  if (arch === "x86_64") {
    X86_64_GP.forEach((name, i) => {
      if (i * 8 + 8 <= gp.length) registers.push({ name, value: word(g, i * 8) });
    });
    sp = word(g, 19 * 8);
    pc = word(g, 16 * 8);
    if (fp && fp.length >= 160 + 256) {
      const f = new DataView(fp.buffer, fp.byteOffset, fp.byteLength);
      for (let i = 0; i < 16; i++) {
        registers.push({ name: `xmm${i}.lo`, value: word(f, 160 + i * 16) });
        registers.push({ name: `xmm${i}.hi`, value: word(f, 160 + i * 16 + 8) });
      }
    }
  } else {
    for (let i = 0; i < 31; i++) registers.push({ name: `x${i}`, value: word(g, i * 8) });
    sp = word(g, 0xf8);
    pc = word(g, 0x100);
    registers.push({ name: "sp", value: sp }, { name: "pc", value: pc });
    registers.push({ name: "pstate", value: word(g, 0x108) });
    if (fp && fp.length >= 512) {
      const f = new DataView(fp.buffer, fp.byteOffset, fp.byteLength);
      for (let i = 0; i < 32; i++) {
        registers.push({ name: `v${i}.lo`, value: word(f, i * 16) });
        registers.push({ name: `v${i}.hi`, value: word(f, i * 16 + 8) });
      }
    }
  }
  return { tid, sp, pc, tp, registers };
}
