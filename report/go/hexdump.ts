// formatHexdump(): an object's bytes as heapspurs' --hexdump prints them (16 bytes a line, offset,
// two groups of 8, |ascii|), then each pointer position with its value and, when known, its name.
// O(bytes).

export interface HexPointer {
  offset: number;
  value: number;
  /** What it points to: an object's id name, a global, "Object @ 0x…". */
  name?: string;
}

const hex2 = (b: number) => b.toString(16).padStart(2, "0");

/** Lines of the dump; `total` (the object's size) notes bytes left out when `bytes` is shorter. */
export function formatHexdump(bytes: Uint8Array, pointers: HexPointer[], total = bytes.length) {
  const lines: string[] = [];
  const marked = new Set(pointers.map((p) => p.offset));
  for (let at = 0; at < bytes.length; at += 16) {
    const row = bytes.subarray(at, at + 16);
    let h = "", ascii = "";
    for (let i = 0; i < 16; i++) {
      const b = row[i];
      // The separator before a pointer word's first byte becomes "*": its position, in place.
      const sep = i === 8 ? "  " : " ";
      h += (marked.has(at + i) ? sep.slice(1) + "*" : sep) + (b === undefined ? "  " : hex2(b));
      if (b !== undefined) ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    }
    lines.push(`${at.toString(16).padStart(8, "0")} ${h}  |${ascii}|`);
  }
  if (total > bytes.length) lines.push(`... ${total - bytes.length} more bytes not shown`);
  for (const p of pointers) {
    const name = p.name ? ` (${p.name})` : "";
    lines.push(`Pointer: 0x${p.offset.toString(16)} = 0x${p.value.toString(16)}${name}`);
  }
  return lines;
}
