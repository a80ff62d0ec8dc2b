// unwindImage(): an UnwindImage from an ELF file (its .eh_frame and its code), placed at a bias.
//
// Reads the program headers, .eh_frame_hdr and .eh_frame once (O(their size)); code bytes for the
// call-site check are read on demand through the same reader.

import { ElfFile, PF_X } from "../elf.ts";
import { CfiError } from "./dwarf_cursor.ts";
import { CfiTable, type FileReader } from "./eh_frame.ts";
import type { UnwindImage } from "./unwind.ts";

/**
 * The unwinder's view of the ELF file `read` reads, loaded at `bias` with its code at runtime
 * `text`. Malformed CFI leaves `cfi` unset (the unwinder falls back to frame pointers and
 * scanning); `warnings` receives why.
 */
export function unwindImage(
  path: string,
  read: FileReader,
  bias: number,
  text: { start: number; end: number }[],
  warnings: string[] = [],
): UnwindImage {
  const image: UnwindImage = { path, bias, text };
  let elf: ElfFile;
  try {
    elf = new ElfFile(read);
  } catch (e) {
    warnings.push(`${path}: not readable as ELF for unwinding: ${(e as Error).message}`);
    return image;
  }
  try {
    const cfi = CfiTable.fromElf(elf, read);
    if (cfi) image.cfi = cfi;
  } catch (e) {
    if (!(e instanceof CfiError)) throw e;
    warnings.push(`${path}: call frame information unusable: ${e.message}`);
  }
  const code = elf.loads.filter((s) => (s.flags & PF_X) !== 0);
  image.code = (vaddr, length) => {
    const seg = code.find((s) => s.vaddr <= vaddr && vaddr + length <= s.vaddr + s.filesz);
    if (!seg) return undefined;
    const b = read(seg.offset + (vaddr - seg.vaddr), length);
    return b.length === length ? b : undefined;
  };
  return image;
}
