// A stack frame as text: one way to name a frame, its location, and tell two frames on one line apart.

import type { StackFrame } from "../analysis/sites.ts";

/**
 * Which of `frames` (one per listed site) need telling apart: those whose `text` equals another's
 * while their addresses or columns differ (two allocations on one source line). Same text at the
 * same address is the same call; the stacks then differ further out, which the output shows.
 * O(frames).
 */
export function ambiguousFrames(
  frames: readonly (StackFrame | undefined)[],
  text: (f: StackFrame) => string,
): boolean[] {
  const groups = new Map<string, Set<string>>();
  const keys = frames.map((f) => {
    if (!f) return undefined;
    const key = text(f);
    const where = groups.get(key) ?? new Set<string>();
    where.add(`${f.pc}:${f.column ?? ""}`);
    groups.set(key, where);
    return key;
  });
  return keys.map((k) => k !== undefined && groups.get(k)!.size > 1);
}

/** "+0x1c" (return address offset in the function), else "@pc"; "" when the name has an offset. */
export function offsetSuffix(f: StackFrame): string {
  if (!f.function) return ""; // the name is the pc already
  if (/\+0x[0-9a-f]+$/.test(f.function)) return ""; // ELF fallback names: "fn+0x1c"
  return f.offset !== undefined ? `+0x${f.offset.toString(16)}` : `@${f.pc}`;
}

export function formatFrame(f: StackFrame, distinguish = false): string {
  const name = `${f.function ?? f.pc}${distinguish ? offsetSuffix(f) : ""}`;
  if (!f.file) return f.image ? `${name} (${f.image})` : name;
  const column = distinguish && f.line && f.column ? `:${f.column}` : "";
  return `${name} ${f.file}${f.line ? `:${f.line}` : ""}${column}`;
}
