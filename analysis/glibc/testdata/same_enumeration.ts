// Test/bench helper: the first difference between two HeapEnumerations, or undefined when equal.
//
// O(allocations + ranges + warnings).

import type { HeapEnumeration } from "../../types.ts";

const hex = (n: number) => "0x" + n.toString(16);

/** Compares allocator name, every allocation (address, size, zone), excluded/heap ranges, warnings. */
export function sameEnumeration(a: HeapEnumeration, b: HeapEnumeration): string | undefined {
  if (a.allocator !== b.allocator) return `allocator "${a.allocator}" vs "${b.allocator}"`;
  const x = a.allocations, y = b.allocations;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x.addresses[i] !== y.addresses[i] || x.sizes[i] !== y.sizes[i] || x.zone(i) !== y.zone(i)) {
      return `allocation ${i}: ${hex(x.addresses[i]!)} ${x.sizes[i]} ${x.zone(i)} vs ` +
        `${hex(y.addresses[i]!)} ${y.sizes[i]} ${y.zone(i)}`;
    }
  }
  if (x.length !== y.length) {
    const more = x.length > y.length ? x : y;
    return `${x.length} vs ${y.length} allocations; first extra: ${hex(more.addresses[n]!)}`;
  }
  const ranges = (r: { start: number; end: number; why?: string }[]) =>
    r.map((e) => `${hex(e.start)}-${hex(e.end)}${e.why === undefined ? "" : " " + e.why}`)
      .join(", ");
  if (ranges(a.excluded) !== ranges(b.excluded)) {
    return `excluded ranges: [${ranges(a.excluded)}] vs [${ranges(b.excluded)}]`;
  }
  if (ranges(a.heapRanges) !== ranges(b.heapRanges)) {
    return `heap ranges: [${ranges(a.heapRanges)}] vs [${ranges(b.heapRanges)}]`;
  }
  if (a.warnings.join("\n") !== b.warnings.join("\n")) {
    return `warnings: ${JSON.stringify(a.warnings)} vs ${JSON.stringify(b.warnings)}`;
  }
  return undefined;
}
