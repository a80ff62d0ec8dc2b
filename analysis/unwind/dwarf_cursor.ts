// DwarfCursor: a bounds-checked reader of DWARF/eh_frame bytes (LEB128, pointer encodings).
//
// Positions are byte offsets into one buffer that sits at link-time address `vaddr`, so that
// PC-relative pointer encodings (DW_EH_PE_pcrel) resolve to link-time addresses. Every read is O(1)
// (LEB128: O(its bytes)); a read past the end throws CfiError, never returns garbage.

const TWO32 = 4294967296;

/** Malformed or unsupported call frame information: the unwinder falls back to other methods. */
export class CfiError extends Error {
  override readonly name = "CfiError";
}

// DW_EH_PE_* pointer encodings (LSB Core, "DWARF Extensions", .eh_frame_hdr and .eh_frame).
export const DW_EH_PE_omit = 0xff;
const DW_EH_PE_absptr = 0x00;
const DW_EH_PE_uleb128 = 0x01;
const DW_EH_PE_udata2 = 0x02;
const DW_EH_PE_udata4 = 0x03;
const DW_EH_PE_udata8 = 0x04;
const DW_EH_PE_sleb128 = 0x09;
const DW_EH_PE_sdata2 = 0x0a;
const DW_EH_PE_sdata4 = 0x0b;
const DW_EH_PE_sdata8 = 0x0c;
const DW_EH_PE_pcrel = 0x10;
const DW_EH_PE_datarel = 0x30;
const DW_EH_PE_indirect = 0x80;

export class DwarfCursor {
  readonly bytes: Uint8Array;
  /** Link-time address of bytes[0]. */
  readonly vaddr: number;
  pos: number;
  #view: DataView;

  constructor(bytes: Uint8Array, vaddr: number, pos = 0) {
    this.bytes = bytes;
    this.vaddr = vaddr;
    this.pos = pos;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  #need(n: number): number {
    const at = this.pos;
    if (at + n > this.bytes.length) {
      throw new CfiError(
        `CFI truncated: ${n} bytes needed at offset ${at} of ${this.bytes.length}`,
      );
    }
    this.pos = at + n;
    return at;
  }

  u8(): number {
    return this.bytes[this.#need(1)]!;
  }

  u16(): number {
    return this.#view.getUint16(this.#need(2), true);
  }

  u32(): number {
    return this.#view.getUint32(this.#need(4), true);
  }

  i8(): number {
    return this.#view.getInt8(this.#need(1));
  }

  i16(): number {
    return this.#view.getInt16(this.#need(2), true);
  }

  i32(): number {
    return this.#view.getInt32(this.#need(4), true);
  }

  /** Unsigned 64-bit as a number: exact below 2^53, which covers every address and length here. */
  u64(): number {
    const at = this.#need(8);
    return this.#view.getUint32(at, true) + this.#view.getUint32(at + 4, true) * TWO32;
  }

  /** Signed 64-bit as a number (exact within ±2^53). */
  i64(): number {
    const at = this.#need(8);
    return this.#view.getUint32(at, true) + this.#view.getInt32(at + 4, true) * TWO32;
  }

  uleb(): number {
    let result = 0, mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new CfiError("ULEB128 longer than 64 bits");
    }
  }

  sleb(): number {
    let result = 0, mul = 1, b: number;
    do {
      b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (mul > 2 ** 70) throw new CfiError("SLEB128 longer than 64 bits");
    } while (b & 0x80);
    if (b & 0x40) result -= mul; // sign bit of the last byte
    return result;
  }

  /** `n` raw bytes (a view, not a copy). */
  block(n: number): Uint8Array {
    const at = this.#need(n);
    return this.bytes.subarray(at, at + n);
  }

  /** NUL-terminated ASCII string. */
  cstring(): string {
    const start = this.pos;
    while (this.u8() !== 0) { /* skip */ }
    return String.fromCharCode(...this.bytes.subarray(start, this.pos - 1));
  }

  /**
   * A pointer in encoding `enc` (DW_EH_PE_*). `dataBase` is the base of DW_EH_PE_datarel (the
   * .eh_frame_hdr's address in its table). Indirect pointers cannot be followed without the
   * process's memory and throw. Returns a link-time address (or a plain value for absptr/udata).
   */
  pointer(enc: number, dataBase = 0): number {
    if (enc === DW_EH_PE_omit) throw new CfiError("an omitted pointer cannot be read");
    const fieldAddr = this.vaddr + this.pos;
    let v: number;
    switch (enc & 0x0f) {
      case DW_EH_PE_absptr:
      case DW_EH_PE_udata8:
        v = this.u64();
        break;
      case DW_EH_PE_uleb128:
        v = this.uleb();
        break;
      case DW_EH_PE_udata2:
        v = this.u16();
        break;
      case DW_EH_PE_udata4:
        v = this.u32();
        break;
      case DW_EH_PE_sleb128:
        v = this.sleb();
        break;
      case DW_EH_PE_sdata2:
        v = this.i16();
        break;
      case DW_EH_PE_sdata4:
        v = this.i32();
        break;
      case DW_EH_PE_sdata8:
        v = this.i64();
        break;
      default:
        throw new CfiError(`unknown pointer encoding 0x${enc.toString(16)}`);
    }
    switch (enc & 0x70) {
      case 0:
        break;
      case DW_EH_PE_pcrel:
        v += fieldAddr;
        break;
      case DW_EH_PE_datarel:
        v += dataBase;
        break;
      default:
        // textrel/funcrel/aligned: not produced by GCC or LLVM for .eh_frame on x86_64/aarch64.
        throw new CfiError(`unsupported pointer application 0x${(enc & 0x70).toString(16)}`);
    }
    if (enc & DW_EH_PE_indirect) throw new CfiError("indirect pointer in CFI");
    return v;
  }

  /** Size in bytes of a value in encoding `enc` when fixed, for skipping (0 = variable). */
  static fixedSize(enc: number): number {
    switch (enc & 0x0f) {
      case DW_EH_PE_absptr:
      case DW_EH_PE_udata8:
      case DW_EH_PE_sdata8:
        return 8;
      case DW_EH_PE_udata2:
      case DW_EH_PE_sdata2:
        return 2;
      case DW_EH_PE_udata4:
      case DW_EH_PE_sdata4:
        return 4;
      default:
        return 0;
    }
  }
}
