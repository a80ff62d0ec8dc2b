// The classic 16-bytes-a-line hexdump of a block's first bytes, for the detail card.

/** "+000  00 11 …  |ascii|" lines of a hex string (odd or non-hex characters are dropped). */
export function hexdump(hex: string): string[] {
  const clean = hex.replace(/[^0-9a-fA-F]/g, "");
  const bytes: number[] = [];
  for (let i = 0; i + 1 < clean.length; i += 2) bytes.push(parseInt(clean.slice(i, i + 2), 16));
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.slice(off, off + 16);
    const hexPart = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
    const ascii = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`+${off.toString(16).padStart(3, "0")}  ${hexPart}  |${ascii}|`);
  }
  return lines;
}
