// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Formats addresses and sizes for warnings: "0x7f12…", lowercase, no padding.

export function hex(n: number): string {
  return "0x" + n.toString(16);
}
