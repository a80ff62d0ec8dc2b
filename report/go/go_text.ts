// Text of the Go heap-dump views: the liveness summary (anchored, Go's leaked finalizer cycles,
// waiting for finalizers, garbage), an object with its pointers, anchors (--anchors), owners
// (--owners N) and the advice the attach command gives for a Go process. O(lines printed).

import type { AnchorsResult } from "../../analysis/go/anchors.ts";
import type { GoRuntimeInfo } from "../../analysis/go/detect_go.ts";
import type { GoHeapGraph } from "../../analysis/go/go_graph.ts";
import { GO_STATE_NAMES, type GoLiveness } from "../../analysis/go/go_liveness.ts";
import { entryLabel, objectLine, pointerName, typeName } from "../../analysis/go/names.ts";
import type { OwnersResult } from "../../analysis/go/owners.ts";
import { formatBytes } from "../format.ts";

const hex = (n: number) => "0x" + n.toString(16);
/** Cycles listed in the summary; the rest are counted. */
const MAX_CYCLES = 10;
/** Members of one cycle listed. */
const MAX_CYCLE_MEMBERS = 8;

/** The summary of a Go heap: one line per liveness state, then Go's leaked cycles. */
export function formatGoSummary(g: GoHeapGraph, l: GoLiveness): string[] {
  const p = g.dump.params;
  const lines = [
    `go heap dump  ${g.dump.fileSize} bytes, ${p?.goVersion ?? "unknown Go"} ${p?.arch ?? ""}`
      .trimEnd(),
    `objects       ${g.nodes.count} (${formatBytes(sum(l.bytes))}), ` +
    `${g.dump.goroutines.length} goroutines, ${g.roots.entries.length} root entries`,
  ];
  for (let s = 0; s < GO_STATE_NAMES.length; s++) {
    lines.push(
      `  ${GO_STATE_NAMES[s]!.padEnd(34)} ${String(l.count[s]).padStart(9)} ` +
        `${formatBytes(l.bytes[s]!)}`,
    );
  }
  if (l.cycles.length === 0) {
    lines.push("no leaked finalizer cycles (unreachable objects are garbage, not leaks, in Go)");
  }
  for (const c of l.cycles.slice(0, MAX_CYCLES)) {
    const bytes = c.reduce((n, v) => n + g.nodes.size[v]!, 0);
    lines.push(
      `✗ Go leaked cycle: ${c.length} objects, ${formatBytes(bytes)}, kept by a finalizer:`,
    );
    for (const v of c.slice(0, MAX_CYCLE_MEMBERS)) {
      const fin = g.nodes.flags[v]! & 1 ? " [finalizer]" : "";
      lines.push(`    ${objectLine(g, v)}${typed(g, v)}${fin}`);
    }
    if (c.length > MAX_CYCLE_MEMBERS) lines.push(`    ... ${c.length - MAX_CYCLE_MEMBERS} more`);
  }
  if (l.cycles.length > MAX_CYCLES) lines.push(`... ${l.cycles.length - MAX_CYCLES} more cycles`);
  for (const w of g.warnings.slice(0, 5)) lines.push(`warning: ${w}`);
  return lines;
}

/** An object's line, its state, then its non-nil pointers with names. */
export function formatObject(g: GoHeapGraph, id: number, l?: GoLiveness): string[] {
  const o = g.objectOf[id]!;
  const objs = g.dump.objects;
  const state = l ? ` — ${GO_STATE_NAMES[l.state[id]!]}` : "";
  const lines = [`${objectLine(g, id)}${typed(g, id)}${state}`];
  for (let k = objs.fieldStart[o]!; k < objs.fieldStart[o + 1]!; k++) {
    const v = objs.fieldValue[k]!, at = g.nodes.address[id]! + objs.fieldOffset[k]!;
    const name = pointerName(g, v);
    lines.push(
      `  Pointer@${hex(at)} (+${hex(objs.fieldOffset[k]!)}) = ${hex(v)}` +
        (name ? ` (${name})` : ""),
    );
  }
  return lines;
}

/** --anchors: each root that keeps the object, nearest first, with the path. */
export function formatAnchors(g: GoHeapGraph, id: number, a: AnchorsResult): string[] {
  if (a.anchors.length === 0) {
    return [`${objectLine(g, id)}: no anchor reaches it (garbage, unless a finalizer keeps it)`];
  }
  const lines: string[] = [];
  for (const x of a.anchors) {
    const where = x.where ? ` @ ${hex(x.where)}` : "";
    lines.push(`${entryLabel(x.entry)}${where}`);
    x.path.forEach((v, i) => {
      const off = i < x.offsets.length ? `  (+${hex(x.offsets[i]!)} →)` : "";
      lines.push(`  ${"  ".repeat(i)}${objectLine(g, v)}${typed(g, v)}${off}`);
    });
  }
  if (a.omitted > 0) lines.push(`... ${a.omitted} more anchors`);
  return lines;
}

/** --owners N: the owner tree, indented as heapspurs prints it. */
export function formatOwners(g: GoHeapGraph, r: OwnersResult): string[] {
  const lines = r.lines.map((l) => {
    const pad = "  ".repeat(l.depth);
    if (l.anchor) return `${pad}${entryLabel(g.roots.entries[l.node]!)}`;
    return `${pad}${objectLine(g, l.node)}${typed(g, l.node)}`;
  });
  if (r.omitted > 0) lines.push(`... ${r.omitted} more lines`);
  if (r.unanchored > 0) {
    lines.push(`(${r.unanchored} owners that no anchor reaches are left out: cycles of garbage)`);
  }
  return lines;
}

/** What `heapscope <pid>` says about a Go process instead of analysing its heap as malloc's. */
export function goAttachAdvice(pid: number, info: GoRuntimeInfo): string[] {
  return [
    `Process ${pid} (${info.image}) is a Go program${info.version ? ` (${info.version})` : ""}: ` +
    `its heap is managed by the Go runtime, not malloc (${info.evidence}).`,
    "heapscope analyses Go heaps from the heap dump the program writes itself:",
    "  1. In the program, write a dump on a signal (as heapspurs recommends):",
    "       sig := make(chan os.Signal, 1); signal.Notify(sig, syscall.SIGUSR1)",
    '       go func() { for range sig { f, _ := os.Create("heap.dump");',
    "         runtime.GC(); debug.WriteHeapDump(f.Fd()); f.Close() } }()",
    `  2. kill -USR1 ${pid}`,
    "  3. heapscope heapdump heap.dump [--program BINARY] [--html report.html]",
    "Hint: unreachable Go objects are garbage the next GC frees; heapscope reports as leaks only",
    "      what anchors keep and Go's leaked cycles (a cycle through an object with a finalizer).",
  ];
}

function typed(g: GoHeapGraph, id: number): string {
  const t = typeName(g, id);
  return t && t !== g.oidName(id) ? ` [${t}]` : "";
}

function sum(a: number[]): number {
  return a.reduce((x, y) => x + y, 0);
}
