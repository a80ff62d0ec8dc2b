// DWARF call frame information: CIE/FDE records of .eh_frame and the row of rules at one address.
//
// A row says how to find the canonical frame address (CFA: the caller's stack pointer before the
// call) and where each of the caller's registers was saved. Parsing one FDE is O(its bytes);
// `rowAt` runs the CIE's initial instructions and the FDE's instructions up to the address,
// O(instructions). Follows DWARF 5 §6.4 and the LSB's .eh_frame extensions (augmentations z, L, P,
// R, S; B and G carry no data).

import { CfiError, DW_EH_PE_omit, DwarfCursor } from "./dwarf_cursor.ts";

/** How a register of the caller is recovered (DWARF 5 §6.4.1 register rules). */
export type RegisterRule =
  | { kind: "undefined" }
  | { kind: "same" }
  | { kind: "offset"; offset: number } // saved at CFA + offset
  | { kind: "val_offset"; offset: number } // value is CFA + offset
  | { kind: "register"; register: number } // value is in another register
  | { kind: "expression"; expr: Uint8Array } // saved at the address the expression computes
  | { kind: "val_expression"; expr: Uint8Array }; // value is what the expression computes

export type CfaRule = { register: number; offset: number } | { expr: Uint8Array };

/** The rules in force at one address. */
export interface CfiRow {
  cfa: CfaRule;
  registers: Map<number, RegisterRule>;
  /** Column of the return address (x86_64: 16 = rip, aarch64: 30 = x30). */
  returnRegister: number;
  /** A signal trampoline frame ('S'): its caller's PC is not a return address (no −1). */
  signalFrame: boolean;
}

export interface Cie {
  /** Link-time address of the CIE (identifies it). */
  address: number;
  augmentation: string;
  codeAlign: number;
  dataAlign: number;
  returnRegister: number;
  /** DW_EH_PE_* encoding of the FDE's pc_begin/pc_range. */
  fdeEncoding: number;
  signalFrame: boolean;
  /** Whether FDEs carry an augmentation data length ('z'). */
  hasAugmentationData: boolean;
  initialInstructions: Uint8Array;
  /** Link-time address of initialInstructions[0]. */
  initialAddress: number;
}

export interface Fde {
  address: number;
  cie: Cie;
  pcBegin: number;
  pcEnd: number;
  instructions: Uint8Array;
  /** Link-time address of instructions[0]. */
  instructionsAddress: number;
}

/** One record of .eh_frame at `offset` of `cursor`'s bytes: a CIE, an FDE, or the terminator. */
export type EhRecord =
  | { type: "cie"; offset: number; next: number }
  | { type: "fde"; offset: number; next: number; ciePointer: number }
  | { type: "end"; offset: number; next: number };

/** The record at `offset` of an .eh_frame buffer (its header only). */
export function readRecordHeader(eh: DwarfCursor, offset: number): EhRecord {
  eh.pos = offset;
  let length = eh.u32();
  if (length === 0) return { type: "end", offset, next: eh.pos };
  if (length === 0xffffffff) length = eh.u64(); // 64-bit DWARF length
  const idPos = eh.pos;
  const next = idPos + length;
  if (next > eh.bytes.length) throw new CfiError(`CFI record at ${offset} overruns its section`);
  const id = eh.u32();
  if (id === 0) return { type: "cie", offset, next };
  // In .eh_frame the CIE pointer is the distance back from this field to the CIE.
  return { type: "fde", offset, next, ciePointer: idPos - id };
}

/** Parse the CIE at `offset`. */
export function parseCie(eh: DwarfCursor, offset: number): Cie {
  const rec = readRecordHeader(eh, offset);
  if (rec.type !== "cie") throw new CfiError(`no CIE at .eh_frame offset ${offset}`);
  const version = eh.u8();
  if (version !== 1 && version !== 3 && version !== 4) {
    throw new CfiError(`unsupported CIE version ${version}`);
  }
  const augmentation = eh.cstring();
  if (augmentation.includes("eh")) eh.u64(); // GCC 2.x "eh" data: a pointer
  if (version === 4) {
    eh.u8(); // address_size
    eh.u8(); // segment_selector_size
  }
  const codeAlign = eh.uleb();
  const dataAlign = eh.sleb();
  const returnRegister = version === 1 ? eh.u8() : eh.uleb();
  let fdeEncoding = 0; // absptr
  let signalFrame = false;
  const hasAugmentationData = augmentation.startsWith("z");
  if (hasAugmentationData) {
    const len = eh.uleb();
    const end = eh.pos + len;
    for (const c of augmentation.slice(1)) {
      if (c === "R") fdeEncoding = eh.u8();
      else if (c === "L") eh.u8(); // LSDA encoding: the LSDA is for exceptions, not unwinding
      else if (c === "P") {
        const enc = eh.u8();
        if (enc !== DW_EH_PE_omit) eh.pointer(enc & 0x7f); // personality routine: not needed
      } else if (c === "S") signalFrame = true;
      else if (c === "B" || c === "G") continue; // aarch64 BTI / MTE: no data
      else break; // unknown: the length lets us skip the rest
    }
    eh.pos = end;
  } else if (augmentation !== "" && augmentation !== "eh") {
    throw new CfiError(`unknown CIE augmentation "${augmentation}"`);
  }
  const initialAddress = eh.vaddr + eh.pos;
  return {
    address: eh.vaddr + offset,
    augmentation,
    codeAlign,
    dataAlign,
    returnRegister,
    fdeEncoding,
    signalFrame,
    hasAugmentationData,
    initialInstructions: eh.bytes.subarray(eh.pos, rec.next),
    initialAddress,
  };
}

/** Parse the FDE at `offset`; `cieAt` returns (and may cache) the CIE at an offset. */
export function parseFde(eh: DwarfCursor, offset: number, cieAt: (offset: number) => Cie): Fde {
  const rec = readRecordHeader(eh, offset);
  if (rec.type !== "fde") throw new CfiError(`no FDE at .eh_frame offset ${offset}`);
  const cie = cieAt(rec.ciePointer);
  eh.pos = offset; // cieAt may have moved the cursor: re-read the header
  readRecordHeader(eh, offset);
  const pcBegin = eh.pointer(cie.fdeEncoding);
  const pcRange = eh.pointer(cie.fdeEncoding & 0x0f); // a length: never pc-relative
  if (cie.hasAugmentationData) eh.pos += eh.uleb();
  return {
    address: eh.vaddr + offset,
    cie,
    pcBegin,
    pcEnd: pcBegin + pcRange,
    instructions: eh.bytes.subarray(eh.pos, rec.next),
    instructionsAddress: eh.vaddr + eh.pos,
  };
}

// DW_CFA_* opcodes (DWARF 5 Table 7.29 and the GNU extensions).
const DW_CFA_advance_loc = 0x1, DW_CFA_offset = 0x2, DW_CFA_restore = 0x3;
const DW_CFA_nop = 0x00, DW_CFA_set_loc = 0x01, DW_CFA_advance_loc1 = 0x02;
const DW_CFA_advance_loc2 = 0x03, DW_CFA_advance_loc4 = 0x04, DW_CFA_offset_extended = 0x05;
const DW_CFA_restore_extended = 0x06, DW_CFA_undefined = 0x07, DW_CFA_same_value = 0x08;
const DW_CFA_register = 0x09, DW_CFA_remember_state = 0x0a, DW_CFA_restore_state = 0x0b;
const DW_CFA_def_cfa = 0x0c, DW_CFA_def_cfa_register = 0x0d, DW_CFA_def_cfa_offset = 0x0e;
const DW_CFA_def_cfa_expression = 0x0f, DW_CFA_expression = 0x10;
const DW_CFA_offset_extended_sf = 0x11, DW_CFA_def_cfa_sf = 0x12, DW_CFA_def_cfa_offset_sf = 0x13;
const DW_CFA_val_offset = 0x14, DW_CFA_val_offset_sf = 0x15, DW_CFA_val_expression = 0x16;
const DW_CFA_GNU_window_save = 0x2d; // aarch64: DW_CFA_AARCH64_negate_ra_state
const DW_CFA_GNU_args_size = 0x2e, DW_CFA_GNU_negative_offset_extended = 0x2f;

/** How many remember_state levels a program may push: real ones use 1–2; bounds a hostile file. */
const MAX_STATE_STACK = 64;

interface State {
  cfa: CfaRule;
  registers: Map<number, RegisterRule>;
}

function cloneState(s: State): State {
  return { cfa: s.cfa, registers: new Map(s.registers) };
}

/**
 * Execute `program` (starting at link-time `loc`) until the location passes `pc`; `state` is
 * changed in place. `initial` holds the CIE's rules (for DW_CFA_restore); undefined while running
 * the CIE's own instructions. O(instructions).
 */
function execute(
  program: Uint8Array,
  programAddress: number,
  cie: Cie,
  state: State,
  initial: Map<number, RegisterRule> | undefined,
  loc: number,
  pc: number,
): void {
  const c = new DwarfCursor(program, programAddress);
  const stack: State[] = [];
  const restore = (reg: number) => {
    const r = initial?.get(reg);
    if (r) state.registers.set(reg, r);
    else state.registers.delete(reg);
  };
  const cfaOffset = (offset: number) => {
    if ("register" in state.cfa) state.cfa = { register: state.cfa.register, offset };
    else throw new CfiError("DW_CFA_def_cfa_offset with an expression CFA");
  };
  while (!c.done) {
    const op = c.u8();
    const high = op >> 6, low = op & 0x3f;
    if (high === DW_CFA_advance_loc) {
      loc += low * cie.codeAlign;
      if (loc > pc) return;
      continue;
    }
    if (high === DW_CFA_offset) {
      state.registers.set(low, { kind: "offset", offset: c.uleb() * cie.dataAlign });
      continue;
    }
    if (high === DW_CFA_restore) {
      restore(low);
      continue;
    }
    switch (op) {
      case DW_CFA_nop:
        break;
      case DW_CFA_set_loc:
        loc = c.pointer(cie.fdeEncoding);
        if (loc > pc) return;
        break;
      case DW_CFA_advance_loc1:
        loc += c.u8() * cie.codeAlign;
        if (loc > pc) return;
        break;
      case DW_CFA_advance_loc2:
        loc += c.u16() * cie.codeAlign;
        if (loc > pc) return;
        break;
      case DW_CFA_advance_loc4:
        loc += c.u32() * cie.codeAlign;
        if (loc > pc) return;
        break;
      case DW_CFA_offset_extended: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "offset", offset: c.uleb() * cie.dataAlign });
        break;
      }
      case DW_CFA_restore_extended:
        restore(c.uleb());
        break;
      case DW_CFA_undefined:
        state.registers.set(c.uleb(), { kind: "undefined" });
        break;
      case DW_CFA_same_value:
        state.registers.set(c.uleb(), { kind: "same" });
        break;
      case DW_CFA_register: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "register", register: c.uleb() });
        break;
      }
      case DW_CFA_remember_state:
        if (stack.length >= MAX_STATE_STACK) throw new CfiError("CFI state stack overflow");
        stack.push(cloneState(state));
        break;
      case DW_CFA_restore_state: {
        const s = stack.pop();
        if (!s) throw new CfiError("DW_CFA_restore_state without a remembered state");
        // The CFA rule is part of the remembered state (DWARF 5 §6.4.2.4).
        state.cfa = s.cfa;
        state.registers = s.registers;
        break;
      }
      case DW_CFA_def_cfa: {
        const register = c.uleb();
        state.cfa = { register, offset: c.uleb() };
        break;
      }
      case DW_CFA_def_cfa_sf: {
        const register = c.uleb();
        state.cfa = { register, offset: c.sleb() * cie.dataAlign };
        break;
      }
      case DW_CFA_def_cfa_register: {
        const register = c.uleb();
        state.cfa = { register, offset: "register" in state.cfa ? state.cfa.offset : 0 };
        break;
      }
      case DW_CFA_def_cfa_offset:
        cfaOffset(c.uleb());
        break;
      case DW_CFA_def_cfa_offset_sf:
        cfaOffset(c.sleb() * cie.dataAlign);
        break;
      case DW_CFA_def_cfa_expression:
        state.cfa = { expr: c.block(c.uleb()) };
        break;
      case DW_CFA_expression: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "expression", expr: c.block(c.uleb()) });
        break;
      }
      case DW_CFA_val_expression: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "val_expression", expr: c.block(c.uleb()) });
        break;
      }
      case DW_CFA_offset_extended_sf: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "offset", offset: c.sleb() * cie.dataAlign });
        break;
      }
      case DW_CFA_val_offset: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "val_offset", offset: c.uleb() * cie.dataAlign });
        break;
      }
      case DW_CFA_val_offset_sf: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "val_offset", offset: c.sleb() * cie.dataAlign });
        break;
      }
      case DW_CFA_GNU_args_size:
        c.uleb(); // stack adjustment for exception landing pads: no effect on the CFA rule
        break;
      case DW_CFA_GNU_negative_offset_extended: {
        const reg = c.uleb();
        state.registers.set(reg, { kind: "offset", offset: -c.uleb() * cie.dataAlign });
        break;
      }
      case DW_CFA_GNU_window_save:
        // aarch64 pointer authentication toggles whether LR is signed; addresses are stripped of
        // their signature bits by the caller (analysis/pac.ts), so the rule itself is unchanged.
        break;
      default:
        throw new CfiError(`unknown DW_CFA opcode 0x${op.toString(16)}`);
    }
  }
}

/** The rules in force at link-time address `pc` inside `fde`. */
export function rowAt(fde: Fde, pc: number): CfiRow {
  const cie = fde.cie;
  const state: State = { cfa: { register: 0, offset: 0 }, registers: new Map() };
  execute(
    cie.initialInstructions,
    cie.initialAddress,
    cie,
    state,
    undefined,
    fde.pcBegin,
    Infinity,
  );
  const initial = new Map(state.registers);
  execute(fde.instructions, fde.instructionsAddress, cie, state, initial, fde.pcBegin, pc);
  return {
    cfa: state.cfa,
    registers: state.registers,
    returnRegister: cie.returnRegister,
    signalFrame: cie.signalFrame,
  };
}
