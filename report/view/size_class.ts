// Size classes for the "not drawn" aggregates: a few bands a reader can compare at a glance.

export const SIZE_CLASSES: { label: string; max: number }[] = [
  { label: "≤ 32 B", max: 32 },
  { label: "≤ 128 B", max: 128 },
  { label: "≤ 1 KiB", max: 1024 },
  { label: "≤ 4 KiB", max: 4096 },
  { label: "≤ 64 KiB", max: 65536 },
  { label: "> 64 KiB", max: Infinity },
];

/** The label of the smallest class that holds `size`. */
export function sizeClassOf(size: number): string {
  for (const c of SIZE_CLASSES) if (size <= c.max) return c.label;
  return SIZE_CLASSES[SIZE_CLASSES.length - 1]!.label;
}
