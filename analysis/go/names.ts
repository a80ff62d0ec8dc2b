// Names of Go heap things, as heapspurs prints them: objects ("Object @ 0x… with N pointers in M
// bytes", the object-id name in place of "Object"), root entries, and pointer values (an object's
// id name or the global at a data/bss address). Plus findObjects() for --find. O(1) per name.

import type { RootEntry } from "../graph.ts";
import type { GoHeapGraph } from "./go_graph.ts";

const hex = (n: number) => "0x" + n.toString(16);

/** heapspurs' line for node `id`: `Object @ 0xc000016000 with 4 pointers in 64 bytes`. */
export function objectLine(g: GoHeapGraph, id: number): string {
  const o = g.objectOf[id]!;
  const name = g.oidName(id) ?? "Object";
  return `${name} @ ${hex(g.nodes.address[id]!)} with ${g.dump.objects.pointerSlots[o]} ` +
    `pointers in ${g.nodes.size[id]} bytes`;
}

/** The object's type (object-id name, else the type an interface told), or undefined. */
export function typeName(g: GoHeapGraph, id: number): string | undefined {
  const t = g.nodes.type[id]!;
  return t >= 0 ? g.nodes.typeNames[t] : undefined;
}

/** "BssSegment (main.registry)", "main.main frame (goroutine 1)", "finalizer of 0x…". */
export function entryLabel(e: RootEntry): string {
  const name = e.name ?? e.kind;
  return e.kind === "stack" && e.thread !== undefined ? `${name} (goroutine ${e.thread})` : name;
}

/** A name for a pointer value: the id name of the object it starts, or the global it is in. */
export function pointerName(g: GoHeapGraph, value: number): string | undefined {
  const v = g.lookup(value);
  if (v >= 0) return g.nodes.address[v] === value ? g.oidName(v) : undefined;
  return g.symbols?.nameAt(value);
}

/** Nodes whose object-id name or type name matches `re`, in address order. O(V). */
export function findObjects(g: GoHeapGraph, re: RegExp): number[] {
  const out: number[] = [];
  const hits = g.nodes.typeNames.map((t) => re.test(t));
  for (let v = 0; v < g.nodes.count; v++) {
    const t = g.nodes.type[v]!;
    if (t >= 0 && hits[t]) out.push(v);
  }
  return out;
}
