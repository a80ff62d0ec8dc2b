// The sites table's payload (recorded processes): sites by leaked bytes, their stacks and labels.

import { classifyFrame } from "../frame_names.ts";
import { formatFrame } from "../frame_text.ts";
import type { LeaksFile, LeaksSite, LeaksStackFrame } from "../schema.ts";
import type { FrameView, ModelOptions, SiteRowView, SitesPayload, StackView } from "./payload.ts";
import { siteLabels, siteText } from "./site_label.ts";

/**
 * Rows sorted by leaked bytes, then live bytes, each with its one label; the stacks of the listed
 * rows and of every site a block of the file uses (capped). Leaked usable bytes per site are
 * counted from the nodes, so they add up with the leaks table (the file's `leakedBytes` are
 * requested sizes). Null when the file has no sites. O(sites · depth + nodes).
 */
export function selectSites(
  leaks: LeaksFile,
  options: Pick<ModelOptions, "maxSites" | "maxStacks" | "maxFrames"> = {},
): SitesPayload | null {
  if (!leaks.sites || !leaks.stacks) return null;
  const stacks = leaks.stacks;
  const maxFrames = options.maxFrames ?? 48;
  const maxStacks = options.maxStacks ?? 2000;
  const sorted = [...leaks.sites].sort(compareSiteRows);
  const listed = sorted.slice(0, options.maxSites ?? 500);

  const usable = new Map<number, number>();
  const used = new Map<number, number>(); // site → leaked bytes of its blocks, for the embed order
  for (const node of leaks.nodes) {
    if (node.site === undefined || node.site < 0) continue;
    const leaked = node.status === "leaked" || node.status === "cycle";
    if (leaked) usable.set(node.site, (usable.get(node.site) ?? 0) + node.size);
    used.set(node.site, (used.get(node.site) ?? 0) + (leaked ? node.size : 0));
  }
  const embedOrder = [
    ...listed.map((r) => r.site),
    ...[...used.entries()].sort((a, b) => b[1] - a[1]).map(([s]) => s),
  ];
  const embedded: Record<number, StackView> = {};
  const chosen: number[] = [];
  for (const site of embedOrder) {
    if (chosen.length >= maxStacks || embedded[site] !== undefined) continue;
    const frames = stacks[site];
    if (!frames) continue;
    embedded[site] = {
      frames: frames.slice(0, maxFrames).map(frameView),
      more: Math.max(0, frames.length - maxFrames),
    };
    chosen.push(site);
  }
  const labels = siteLabels(stacks, chosen);
  const labelText: Record<number, string> = {};
  for (const [site, l] of labels) labelText[site] = siteText(l);

  const rows = listed.map((r): SiteRowView => {
    const l = labels.get(r.site) ?? siteLabels(stacks, [r.site]).get(r.site)!;
    const row: SiteRowView = {
      ...r,
      directBytes: r.directBytes ?? 0,
      threads: r.threads.slice(0, 16),
      label: l.label,
      location: l.location,
      via: l.via,
      leakedUsableBytes: usable.get(r.site) ?? 0,
    };
    if (l.file) row.file = l.file;
    return row;
  });
  const fileOmitted = leaks.omittedSites ?? 0;
  return {
    rows,
    total: leaks.sites.length + fileOmitted,
    omitted: leaks.sites.length - rows.length + fileOmitted,
    stacks: embedded,
    labels: labelText,
  };
}

/** Leaked bytes, then live bytes, then leaked count, descending; site id breaks ties. */
export function compareSiteRows(a: LeaksSite, b: LeaksSite): number {
  return b.leakedBytes - a.leakedBytes || b.bytes - a.bytes || b.leakedCount - a.leakedCount ||
    a.site - b.site;
}

function frameView(frame: LeaksStackFrame): FrameView {
  const view: FrameView = { pc: frame.pc, text: formatFrame(frame) };
  if (frame.function) view.function = frame.function;
  if (frame.file) view.file = frame.file;
  if (frame.line !== undefined) view.line = frame.line;
  if (frame.image) view.image = frame.image.slice(frame.image.lastIndexOf("/") + 1);
  const kind = classifyFrame(frame);
  if (kind === "allocator" || kind === "recorder") view.alloc = true;
  return view;
}
