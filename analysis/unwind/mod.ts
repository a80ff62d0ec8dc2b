// Public surface of the stack unwinder: registers + a memory reader + the images' CFI → frames.

export {
  CodeMap,
  DWARF_REGISTERS,
  dwarfRegisters,
  type Frame,
  type FrameMethod,
  type UnwindImage,
  type UnwindInput,
  unwindStack,
} from "./unwind.ts";
export { CfiTable, type FileReader } from "./eh_frame.ts";
export { CfiError } from "./dwarf_cursor.ts";
export { unwindImage } from "./elf_image.ts";
