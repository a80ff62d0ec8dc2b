// Tests for the Mach thread-state decoders on byte layouts built field by field per Apple's structs.

import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import {
  ARM_NEON_STATE64_SIZE,
  ARM_THREAD_STATE64_SIZE,
  decodeArmNeonState64,
  decodeArmThreadState64,
  decodeMachThreadState,
  decodeMachVectorState,
  decodeX86FloatState64,
  decodeX86ThreadState64,
  X86_FLOAT_STATE64_SIZE,
  X86_THREAD_STATE64_SIZE,
} from "./mach_thread_state.ts";

/** struct __darwin_arm_thread_state64 { u64 x[29], fp, lr, sp, pc; u32 cpsr, flags; } */
function armState(x: bigint[], fp: bigint, lr: bigint, sp: bigint, pc: bigint, cpsr: number) {
  const b = new Uint8Array(ARM_THREAD_STATE64_SIZE);
  const v = new DataView(b.buffer);
  x.forEach((val, i) => v.setBigUint64(i * 8, val, true));
  v.setBigUint64(232, fp, true);
  v.setBigUint64(240, lr, true);
  v.setBigUint64(248, sp, true);
  v.setBigUint64(256, pc, true);
  v.setUint32(264, cpsr, true);
  v.setUint32(268, 0, true); // flags: signed (arm64e)
  return b;
}

Deno.test("decodeArmThreadState64() reads x0..x28 and strips PAC from fp, lr, sp, pc", () => {
  const x = Array.from({ length: 29 }, (_, i) => 0x6000_0000_0000n + BigInt(i) * 0x10n);
  const b = armState(
    x,
    0x16f5_fe0f0n, // fp: a stack address (0x16fxxxxxx on arm64 macOS)
    0x5d7a_0001_89a2_b2acn, // lr: signed return address into the shared cache
    0x16f5_fdf80n,
    0x2a0e_8001_9c3c_1d2cn, // pc: signed
    0x6000_0000,
  );
  const s = decodeArmThreadState64(b);
  assertEquals(s.lr, 0x1_89a2_b2ac);
  assertEquals(s.pc, 0x1_9c3c_1d2c);
  assertEquals(s.sp, 0x16f5_fdf80);
  assertEquals(s.fp, 0x16f5_fe0f0);
  assertEquals(s.registers.length, 29 + 4 + 1);
  assertEquals(s.registers[0], { name: "x0", value: 0x6000_0000_0000 });
  assertEquals(s.registers[28], { name: "x28", value: 0x6000_0000_0000 + 28 * 16 });
  assertEquals(s.registers.find((r) => r.name === "lr")?.value, 0x1_89a2_b2ac);
  assertEquals(s.registers.at(-1), { name: "cpsr", value: 0x6000_0000 });
});

Deno.test("decodeX86ThreadState64() maps the 21 words in kernel order", () => {
  const b = new Uint8Array(X86_THREAD_STATE64_SIZE);
  const v = new DataView(b.buffer);
  for (let i = 0; i < 21; i++) v.setBigUint64(i * 8, 0x7ff7_bfef_0000n + BigInt(i), true);
  const s = decodeX86ThreadState64(b);
  assertEquals(s.sp, 0x7ff7_bfef_0007); // rsp is word 7
  assertEquals(s.pc, 0x7ff7_bfef_0010); // rip is word 16
  assertEquals(s.fp, 0x7ff7_bfef_0006); // rbp is word 6
  assertEquals(s.registers.map((r) => r.name).slice(12, 17), ["r12", "r13", "r14", "r15", "rip"]);
  assertEquals(s.registers.at(-1), { name: "gs", value: 0x7ff7_bfef_0014 });
});

Deno.test("decodeArmNeonState64() splits each 128-bit v register in halves", () => {
  const b = new Uint8Array(ARM_NEON_STATE64_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(5 * 16, 0x6000_0123_4560n, true);
  v.setBigUint64(5 * 16 + 8, 0x1_0000_8000n, true);
  v.setUint32(512, 0x1234, true); // fpsr, not a register we report
  const regs = decodeArmNeonState64(b);
  assertEquals(regs.length, 64);
  assertEquals(regs[10], { name: "v5", value: 0x6000_0123_4560 });
  assertEquals(regs[11], { name: "v5.hi", value: 0x1_0000_8000 });
});

Deno.test("decodeX86FloatState64() finds xmm0 after the x87 block at offset 168", () => {
  const b = new Uint8Array(X86_FLOAT_STATE64_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(40, 0xdead_beefn, true); // st0: not reported
  v.setBigUint64(168 + 15 * 16, 0x6000_0000_1230n, true);
  const regs = decodeX86FloatState64(b);
  assertEquals(regs.length, 32);
  assertEquals(regs[0], { name: "xmm0", value: 0 });
  assertEquals(regs[30], { name: "xmm15", value: 0x6000_0000_1230 });
});

Deno.test("decodeMachThreadState() picks the layout by arch and rejects short buffers", () => {
  const arm = armState(new Array(29).fill(0n), 0n, 0n, 0x16f00_0000n, 0n, 0);
  assertEquals(decodeMachThreadState("aarch64", arm).sp, 0x16f00_0000);
  assertEquals(decodeMachVectorState("x86_64", new Uint8Array(524)).length, 32);
  assertThrows(() => decodeMachThreadState("x86_64", new Uint8Array(100)), /168/);
  assertThrows(() => decodeArmThreadState64(new Uint8Array(271)), /272/);
});
