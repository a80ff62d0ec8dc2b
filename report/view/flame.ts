// The flame graph's payload: leaked bytes by allocation stack, outermost frame at the root.

import { shortName } from "../frame_names.ts";
import type { LeaksFile, LeaksStackFrame } from "../schema.ts";
import type { FlameNode, FlamePayload } from "./payload.ts";
import { frameLocation } from "./site_label.ts";

/** Frames of one stack shown at most (deeper stacks are cut at the outer end, and say so). */
const MAX_DEPTH = 64;

/**
 * Leaked blocks' usable bytes summed per site, then merged into a tree of frames from the
 * outermost (thread start, main) to the innermost (malloc): the input of d3-flame-graph. Blocks
 * with no recorded stack form one child of the root. Null when the file has no stacks.
 * O(leaked nodes + sites · depth).
 */
export function selectFlame(leaks: LeaksFile): FlamePayload | null {
  if (!leaks.stacks || !leaks.sites) return null;
  const bySite = new Map<number, number>();
  let total = 0, unrecorded = 0;
  for (const node of leaks.nodes) {
    if (node.status !== "leaked" && node.status !== "cycle") continue;
    total += node.size;
    if (node.site === undefined || node.site < 0 || !leaks.stacks[node.site]) {
      unrecorded += node.size;
    } else bySite.set(node.site, (bySite.get(node.site) ?? 0) + node.size);
  }
  const root: FlameNode = { name: "all leaked bytes", value: 0, children: [] };
  const childOf = new Map<FlameNode, Map<string, FlameNode>>();
  const step = (parent: FlameNode, name: string, value: number): FlameNode => {
    let kids = childOf.get(parent);
    if (!kids) childOf.set(parent, kids = new Map());
    let child = kids.get(name);
    if (!child) {
      child = { name, value: 0, children: [] };
      kids.set(name, child);
      parent.children.push(child);
    }
    child.value += value;
    return child;
  };
  for (const [site, bytes] of [...bySite.entries()].sort((a, b) => b[1] - a[1])) {
    const frames = leaks.stacks[site]!;
    root.value += bytes;
    let at = root;
    const outer = frames.slice(0, MAX_DEPTH).reverse();
    if (frames.length > MAX_DEPTH) {
      at = step(at, `… ${frames.length - MAX_DEPTH} outer frames`, bytes);
    }
    for (const f of outer) at = step(at, flameFrameName(f), bytes);
    at.site = site;
  }
  if (unrecorded > 0) {
    root.value += unrecorded;
    step(root, "(no stack: allocated before the recorder started)", unrecorded);
  }
  return { root, total, unrecorded };
}

/** "parse_request server.c:214": the frame's short name and where it is. */
export function flameFrameName(f: LeaksStackFrame): string {
  const name = f.function
    ? shortName(f.function, 60)
    : f.image
    ? `${f.image.slice(f.image.lastIndexOf("/") + 1)}@${f.pc}`
    : f.pc;
  const where = frameLocation(f);
  return where ? `${name} ${where}` : name;
}
