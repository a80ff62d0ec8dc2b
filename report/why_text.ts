// `heapscope why` as text: what a block is, the path from its root, its owners, its anchors, its
// bytes with every pointer marked and named.

import { type Owners, pathFromRoot, type WhyModel } from "../analysis/why.ts";
import { formatAddress as hex, formatBytes, formatCount, printable } from "./format.ts";
import { shortName, typeLabel } from "./frame_names.ts";

/** A root name for a terminal: the symbol or function shortened, the rest ("in ./server") kept. */
export function rootLabel(name: string, width = 70): string {
  const m = /^(.*?)( (?:frame )?in .*| of thread \d+.*)$/.exec(name);
  return printable(m ? shortName(m[1]!, width) + m[2] : shortName(name, width));
}

/** "0x55d0…b3c0 std::string (heap body), 48 B". */
export function blockLabel(m: WhyModel, i: number): string {
  const t = m.typeName(i);
  return `${hex(m.address(i))}${t ? ` ${printable(typeLabel(t, 60))}` : ""}, ${
    formatBytes(m.size(i))
  }`;
}

/** What the block is and why it is alive (or that nothing keeps it). */
export function formatWhy(m: WhyModel, i: number, owners: Owners): string[] {
  const lines: string[] = [];
  const status = m.status(i);
  const leak = m.leak(i);
  lines.push(
    `${blockLabel(m, i)}: ${status}${leak ? ` (${leak} leak)` : ""}`,
  );
  const r = m.retained?.(i);
  if (r && status !== "leaked" && status !== "cycle") {
    const blocks = r.blocks !== undefined ? ` in ${formatCount(r.blocks)} blocks` : "";
    lines.push(`retains ${formatBytes(r.bytes)}${blocks} (itself and what only it keeps alive)`);
  }
  if (status === "leaked" || status === "cycle") {
    lines.push("unreachable from every root: nothing the program can reach points at it");
    const inside = owners.tree(i, 1);
    if (inside.length === 0) {
      lines.push(
        "nothing points at it: it is where the leaked structure starts (fix its allocation)",
      );
    } else {
      lines.push("held inside the leaked structure by:");
      for (const o of inside.slice(0, 20)) {
        lines.push(`  ${blockLabel(m, o.node)} +${hex(o.offset)} (${m.status(o.node)})`);
      }
      if (inside.length > 20) lines.push(`  … ${inside.length - 20} more`);
    }
    return lines;
  }
  const path = pathFromRoot(m, i);
  if (!path.root) {
    lines.push("no path from a root is known in this input");
    return lines;
  }
  lines.push(
    status === "possible"
      ? "kept only by weak evidence (possibly hidden), shortest path from a root:"
      : "why it is alive, shortest path from a root:",
  );
  lines.push(`  ${rootLabel(path.root)}${path.weakRoot ? " (weak: may be stale)" : ""}`);
  for (const step of path.steps) {
    const weak = step.weak ? ", weak: may be stale" : "";
    const via = step.offset !== undefined ? ` (pointer at +${hex(step.offset)}${weak})` : "";
    lines.push(`  → ${blockLabel(m, step.node)}${via}`);
    if (step.reason) lines.push(`      weak: ${printable(step.reason)}`);
  }
  if (status === "possible") {
    // What a weak word is, unless each weak step above already said which rule it falls under.
    if (path.weakRoot || path.steps.some((s) => s.weak && !s.reason)) {
      lines.push(
        "a weak link is a word the program may never have written: malloc's slack past the",
        "request, bytes past a C string's NUL, a pool's spare part, a vector register or the red",
        "zone below SP.",
      );
    }
    lines.push(
      "If the weak word is stale, this block is leaked (a recorded run, `heapscope run`, knows",
      "which bytes were asked for).",
    );
  }
  return lines;
}

/** Owners to `depth` levels, indented by level. */
export function formatOwners(m: WhyModel, i: number, owners: Owners, depth: number): string[] {
  const tree = owners.tree(i, depth);
  const lines = [
    `owners of ${hex(m.address(i))} (${depth < 0 ? "all levels" : `${depth} level(s)`}):`,
  ];
  if (tree.length === 0) lines.push("  none");
  for (const o of tree.slice(0, 500)) {
    const roots = m.rootNames(o.node);
    const root = roots.length ? `  ← ${rootLabel(roots[0]!)}` : "";
    lines.push(
      `${"  ".repeat(o.level)}${blockLabel(m, o.node)} +${hex(o.offset)} → ${
        hex(m.address(o.owner))
      }${root}`,
    );
  }
  if (tree.length > 500) lines.push(`  … ${tree.length - 500} more owners`);
  return lines;
}

/** The roots that reach the block (anchors). */
export function formatAnchors(m: WhyModel, i: number, owners: Owners): string[] {
  const anchors = owners.anchors(i);
  const lines = [`anchors of ${hex(m.address(i))} (roots that reach it):`];
  if (anchors.length === 0) lines.push("  none: no root reaches it");
  for (const a of anchors.slice(0, 200)) {
    const at = a.level === 0
      ? "directly"
      : `through ${a.level} block(s), via ${hex(m.address(a.node))}`;
    lines.push(`  ${rootLabel(a.root)} (${at})`);
  }
  return lines;
}

/** The block's bytes, 16 a line, every pointer word marked (*) and named. */
export function formatHexdump(m: WhyModel, i: number, max = 4096): string[] {
  const bytes = m.bytes?.(i);
  if (!bytes) return ["no bytes of this block in this input (attach or analyse a snapshot)"];
  const shown = bytes.subarray(0, Math.min(bytes.length, max));
  const refs = new Map(m.references(i).map((e) => [e.offset, e]));
  const lines = [`${formatCount(shown.length)} of ${formatCount(m.size(i))} bytes:`];
  const view = new DataView(shown.buffer, shown.byteOffset, shown.byteLength);
  for (let off = 0; off < shown.length; off += 16) {
    const row = shown.subarray(off, off + 16);
    const hexes = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join(
      "",
    );
    const notes: string[] = [];
    for (let w = off; w < off + 16 && w + 8 <= shown.length; w += 8) {
      const e = refs.get(w);
      const value = view.getUint32(w, true) + view.getUint32(w + 4, true) * 4294967296;
      if (e) {
        notes.push(`*+${hex(w)} → ${blockLabel(m, e.node)}${e.interior ? " (inside)" : ""}`);
      } else if (value !== 0) {
        const sym = m.symbolAt?.(value);
        if (sym) notes.push(`*+${hex(w)} → ${printable(sym)}`);
      }
    }
    lines.push(
      `  +${off.toString(16).padStart(4, "0")}  ${hexes.padEnd(47)}  ${ascii.padEnd(16)}${
        notes.length ? "  " + notes.join("; ") : ""
      }`,
    );
  }
  if (bytes.length > shown.length) lines.push(`  … ${bytes.length - shown.length} more bytes`);
  return lines;
}
