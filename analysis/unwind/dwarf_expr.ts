// evaluateExpression(): the DWARF expression subset that call frame information uses.
//
// CFI expressions compute a CFA or a save slot from registers and memory: PLT entries (rsp + 8 +
// 8·(rip&15 ≥ 11)), signal trampolines (the saved context's registers), hand-written assembly.
// 64-bit arithmetic runs on BigInt (expressions are rare and short, never in a hot loop). O(ops),
// bounded by MAX_STEPS so that a branch loop in a hostile file ends.

import { CfiError, DwarfCursor } from "./dwarf_cursor.ts";

const MASK = (1n << 64n) - 1n;
/** Operations one evaluation may execute: real CFI expressions have fewer than 20. */
const MAX_STEPS = 10_000;
const MAX_STACK = 1024;

export interface ExpressionContext {
  /** Value of DWARF register `n`, or undefined when unknown. */
  register(n: number): number | undefined;
  /** The 64-bit word at `address` (`size` bytes, zero-extended), or undefined when unreadable. */
  read(address: number, size: number): number | undefined;
}

function u(v: bigint): bigint {
  return v & MASK;
}

function signed(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

/**
 * The value of `expr` with `initial` pushed first (the CFA, for register rules). Throws CfiError
 * when it reads an unknown register, unreadable memory, or an operation CFI never uses.
 */
export function evaluateExpression(
  expr: Uint8Array,
  ctx: ExpressionContext,
  initial?: number,
): number {
  const c = new DwarfCursor(expr, 0);
  const stack: bigint[] = initial === undefined ? [] : [BigInt(initial)];
  const pop = (): bigint => {
    const v = stack.pop();
    if (v === undefined) throw new CfiError("DWARF expression stack underflow");
    return v;
  };
  const push = (v: bigint) => {
    if (stack.length >= MAX_STACK) throw new CfiError("DWARF expression stack overflow");
    stack.push(u(v));
  };
  const reg = (n: number): bigint => {
    const v = ctx.register(n);
    if (v === undefined) throw new CfiError(`DWARF expression reads unknown register ${n}`);
    return BigInt(v);
  };
  const deref = (addr: bigint, size: number): bigint => {
    const v = ctx.read(Number(addr), size);
    if (v === undefined) {
      throw new CfiError(`DWARF expression reads unreadable 0x${addr.toString(16)}`);
    }
    return BigInt(v);
  };
  const binary = (f: (a: bigint, b: bigint) => bigint) => {
    const b = pop(), a = pop();
    push(f(a, b));
  };
  let steps = 0;
  while (!c.done) {
    if (++steps > MAX_STEPS) throw new CfiError("DWARF expression runs too long");
    const op = c.u8();
    if (op >= 0x30 && op <= 0x4f) { // DW_OP_lit0..31
      push(BigInt(op - 0x30));
      continue;
    }
    if (op >= 0x70 && op <= 0x8f) { // DW_OP_breg0..31
      push(reg(op - 0x70) + BigInt(c.sleb()));
      continue;
    }
    if (op >= 0x50 && op <= 0x6f) { // DW_OP_reg0..31: a location, not a value; CFI forbids it
      throw new CfiError("DW_OP_reg in a CFI expression");
    }
    switch (op) {
      case 0x03: // addr
        push(BigInt(c.u64()));
        break;
      case 0x06: // deref
        push(deref(pop(), 8));
        break;
      case 0x08: // const1u
        push(BigInt(c.u8()));
        break;
      case 0x09: // const1s
        push(BigInt(c.i8()));
        break;
      case 0x0a: // const2u
        push(BigInt(c.u16()));
        break;
      case 0x0b: // const2s
        push(BigInt(c.i16()));
        break;
      case 0x0c: // const4u
        push(BigInt(c.u32()));
        break;
      case 0x0d: // const4s
        push(BigInt(c.i32()));
        break;
      case 0x0e: // const8u
      case 0x0f: { // const8s
        const b = c.block(8);
        const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
        push(v);
        break;
      }
      case 0x10: // constu
        push(BigInt(c.uleb()));
        break;
      case 0x11: // consts
        push(BigInt(c.sleb()));
        break;
      case 0x12: { // dup
        const v = pop();
        push(v);
        push(v);
        break;
      }
      case 0x13: // drop
        pop();
        break;
      case 0x14: { // over
        if (stack.length < 2) throw new CfiError("DW_OP_over on a short stack");
        push(stack[stack.length - 2]!);
        break;
      }
      case 0x15: { // pick
        const i = c.u8();
        if (i >= stack.length) throw new CfiError("DW_OP_pick out of range");
        push(stack[stack.length - 1 - i]!);
        break;
      }
      case 0x16: { // swap
        const b = pop(), a = pop();
        push(b);
        push(a);
        break;
      }
      case 0x17: { // rot
        const a = pop(), b = pop(), d = pop();
        push(a);
        push(d);
        push(b);
        break;
      }
      case 0x19: { // abs
        const v = signed(pop());
        push(v < 0n ? -v : v);
        break;
      }
      case 0x1a:
        binary((a, b) => a & b);
        break;
      case 0x1b: // div (signed)
        binary((a, b) => {
          if (b === 0n) throw new CfiError("DW_OP_div by zero");
          return signed(a) / signed(b);
        });
        break;
      case 0x1c:
        binary((a, b) => a - b);
        break;
      case 0x1d: // mod
        binary((a, b) => {
          if (b === 0n) throw new CfiError("DW_OP_mod by zero");
          return a % b;
        });
        break;
      case 0x1e:
        binary((a, b) => a * b);
        break;
      case 0x1f:
        push(-pop());
        break;
      case 0x20:
        push(~pop());
        break;
      case 0x21:
        binary((a, b) => a | b);
        break;
      case 0x22:
        binary((a, b) => a + b);
        break;
      case 0x23: // plus_uconst
        push(pop() + BigInt(c.uleb()));
        break;
      case 0x24:
        binary((a, b) => a << (b & 63n));
        break;
      case 0x25:
        binary((a, b) => a >> (b & 63n));
        break;
      case 0x26:
        binary((a, b) => signed(a) >> (b & 63n));
        break;
      case 0x27:
        binary((a, b) => a ^ b);
        break;
      case 0x28: { // bra
        const off = c.i16();
        if (pop() !== 0n) c.pos += off;
        if (c.pos < 0 || c.pos > expr.length) throw new CfiError("DW_OP_bra out of the expression");
        break;
      }
      case 0x29:
        binary((a, b) => a === b ? 1n : 0n);
        break;
      case 0x2a:
        binary((a, b) => signed(a) >= signed(b) ? 1n : 0n);
        break;
      case 0x2b:
        binary((a, b) => signed(a) > signed(b) ? 1n : 0n);
        break;
      case 0x2c:
        binary((a, b) => signed(a) <= signed(b) ? 1n : 0n);
        break;
      case 0x2d:
        binary((a, b) => signed(a) < signed(b) ? 1n : 0n);
        break;
      case 0x2e:
        binary((a, b) => a !== b ? 1n : 0n);
        break;
      case 0x2f: { // skip
        c.pos += c.i16();
        if (c.pos < 0 || c.pos > expr.length) {
          throw new CfiError("DW_OP_skip out of the expression");
        }
        break;
      }
      case 0x92: { // bregx
        const r = c.uleb();
        push(reg(r) + BigInt(c.sleb()));
        break;
      }
      case 0x94: { // deref_size
        const size = c.u8();
        if (size < 1 || size > 8) throw new CfiError(`DW_OP_deref_size ${size}`);
        const v = deref(pop(), size);
        push(size === 8 ? v : v & ((1n << BigInt(size * 8)) - 1n));
        break;
      }
      case 0x96: // nop
        break;
      default:
        throw new CfiError(`DWARF operation 0x${op.toString(16)} is not supported in CFI`);
    }
  }
  const result = pop();
  if (result > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CfiError(`DWARF expression result 0x${result.toString(16)} is not an address`);
  }
  return Number(result);
}
