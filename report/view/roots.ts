// Root entries as the report names them: the why-alive issue's `name` when present, else the kind,
// image or thread, and where the pointer was found.

import type { LeaksFile, LeaksRoot } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";
import type { RootView } from "./payload.ts";

/** One view per held block (its first root entry), at most `max`. O(roots). */
export function selectRoots(
  leaks: LeaksFile,
  adj: Adjacency,
  max = 50_000,
): { roots: RootView[]; omitted: number } {
  const seen = new Set<number>();
  const roots: RootView[] = [];
  let omitted = 0;
  for (const r of leaks.roots) {
    const b = adj.at(r.target);
    if (b < 0 || seen.has(b)) continue;
    seen.add(b);
    if (roots.length >= max) {
      omitted++;
      continue;
    }
    roots.push({ block: b, label: rootLabel(r), weak: r.weak === true });
  }
  return { roots, omitted };
}

/** "g_registry+0x8 in ./server" (named), "global 0x… in leaky", "rbx of thread 4242", … */
export function rootLabel(r: LeaksRoot): string {
  if (r.name) return r.name;
  const image = r.image ? r.image.slice(r.image.lastIndexOf("/") + 1) : "";
  const thread = r.thread !== undefined ? ` of thread ${r.thread}` : "";
  switch (r.kind) {
    case "data":
      return `global at ${r.address}${image ? ` in ${image}` : ""}`;
    case "stack":
      return `stack slot ${r.address}${thread}`;
    case "register":
      return `${r.address}${thread}`;
    case "tls":
      return `thread-local ${r.address}${thread}`;
    case "finalizer":
      return `finalizer ${r.address}`;
    default:
      return `memory at ${r.address}${image ? ` in ${image}` : ""}`;
  }
}
