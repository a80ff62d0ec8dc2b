// The recognisers' memory-bound loops in one native pass (shim/recognise_kernel.c hs_recognise)
// behind analysis/'s RecogniseKernel: what slackWords, the container candidates and the vtable,
// red-black node and hashtable checks find, identical to their TypeScript loops
// (ffi/recognise_kernel_test.ts). The copied chunks are handed to C as pointers into their
// buffers, which stay in place while the MemoryImage holds them (V8 never moves an ArrayBuffer's
// bytes).

import {
  CandidateList,
  type MemoryImage,
  type Recognised,
  type RecogniseInput,
  type RecogniseKernel,
} from "../analysis/mod.ts";
import { u32Array } from "../analysis/arrays.ts";
import { type shim, shimSymbol } from "./shim.ts";

type Recognise = NonNullable<ReturnType<typeof shim>["hs_recognise"]>;

/**
 * Entries per list and call: the pass resumes where a full list stopped it. Small enough that the
 * lists come from malloc's heap, not mmap: while the arena's helper populates pages it holds the
 * process's mmap lock, and an mmap waits for it (11 lists of 64 Ki entries waited ~0.1 s).
 */
const BATCH = 1 << 12;

interface View {
  ptr: BigUint64Array;
  start: Float64Array;
  len: Float64Array;
  n: number;
}

/** The arrays of the pass under way, kept reachable while C reads them (see _recognise). */
const pinned = new Set<unknown[]>();

/** The chunks' addresses in memory, starts and lengths (at least one slot: never a null buffer). */
function viewOf(memory: MemoryImage): View {
  const n = memory.chunks.length, size = Math.max(1, n);
  const ptr = new BigUint64Array(size), start = new Float64Array(size);
  const len = new Float64Array(size);
  memory.chunks.forEach((c, i) => {
    ptr[i] = Deno.UnsafePointer.value(Deno.UnsafePointer.of(c.bytes));
    start[i] = c.start;
    len[i] = c.bytes.length;
  });
  return { ptr, start, len, n };
}

/**
 * The pass in C, or undefined when the shim cannot be loaded or lacks it. `batch`: entries per list
 * and call (tests make it small, so that the pass resumes often).
 */
export function nativeRecogniseKernel(batch = BATCH): RecogniseKernel | undefined {
  const recognise = shimSymbol("hs_recognise");
  if (!recognise) return undefined;
  if (!(batch >= 3)) throw new Error(`recognise batch ${batch}: at least 3`);
  return (input) => _recognise(recognise, input, batch);
}

/** A growable column of numbers (the lists come back in batches). */
class Column<T extends Uint32Array | Float64Array> {
  parts: T[] = [];
  length = 0;
  add(batch: T, count: number): void {
    if (count === 0) return;
    this.parts.push(batch.slice(0, count) as T);
    this.length += count;
  }
  join(make: (n: number) => T): T {
    const out = make(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function _recognise(hs_recognise: Recognise, input: RecogniseInput, batch: number): Recognised {
  const { memory, allocations, refs } = input;
  const n = allocations.length;
  const slack = u32Array(n);
  const candidates = new CandidateList();
  if (n === 0) {
    const none = { block: new Uint32Array(0) };
    return {
      slack,
      candidates,
      vtables: { ...none, word: new Float64Array(0) },
      rbNodes: { ...none, parent: new Float64Array(0) },
      hashRefs: new Uint32Array(0),
    };
  }
  const vBlock = new Column<Uint32Array>(), vWord = new Column<Float64Array>();
  const rbBlock = new Column<Uint32Array>(), rbParent = new Column<Float64Array>();
  const hashRefs = new Column<Uint32Array>();
  const v = viewOf(memory);
  let maxSize = 0;
  for (let i = 0; i < n; i++) if (allocations.sizes[i]! > maxSize) maxSize = allocations.sizes[i]!;
  const cr = new Uint32Array(batch), cx = new Float64Array(batch), ck = new Uint8Array(batch);
  const ca = new Float64Array(batch), cb = new Float64Array(batch);
  const vb = new Uint32Array(batch), vw = new Float64Array(batch);
  const rb = new Uint32Array(batch), rp = new Float64Array(batch);
  const hr = new Uint32Array(batch);
  const state = new Float64Array(8);
  // The arrays' addresses, packed in recognise()'s order (shim/recognise_kernel.c).
  const ptr = (a: ArrayBufferView | undefined) =>
    a && a.byteLength > 0 ? Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)) : 0n;
  const arrays = [
    v.ptr,
    v.start,
    v.len,
    allocations.addresses,
    allocations.sizes,
    allocations.zoneIds,
    input.requested,
    input.regions.starts,
    input.regions.ends,
    input.spans.starts,
    input.spans.ends,
    refs.start,
    refs.target,
    refs.word,
    refs.segments.edge,
    refs.segments.segment,
    refs.hitAddress,
    refs.hitTarget,
    slack,
    cr,
    cx,
    ck,
    ca,
    cb,
    vb,
    vw,
    rb,
    rp,
    hr,
  ];
  const p = BigUint64Array.from(arrays.map(ptr));
  const d = Float64Array.from([
    v.n,
    n,
    allocations.zones.indexOf("mmap"),
    input.requested ? 1 : 0,
    input.regions.starts.length,
    input.spans.starts.length,
    maxSize,
    refs.hitTarget.length,
    batch,
    refs.segments.count,
  ]);
  // C reads these arrays (and the chunks' bytes) through raw addresses, which keep none of them
  // alive: some are referenced from nowhere else once packed (the chunks' view, the input's region
  // and span columns), and a collection during the pass would free them under it. Pinned until it
  // is done. (The pass went wrong in a test when the view was not.)
  const held = [arrays, memory];
  pinned.add(held);
  try {
    for (;;) {
      const status = hs_recognise(p, p.length, d, d.length, state);
      if (status < 0) throw new Error(`hs_recognise failed: status ${status}`);
      const k = state[3]!;
      candidates.reserve(k);
      const at = candidates.count;
      candidates.r.set(cr.subarray(0, k), at);
      candidates.x.set(cx.subarray(0, k), at);
      candidates.kind.set(ck.subarray(0, k), at);
      candidates.a.set(ca.subarray(0, k), at);
      candidates.b.set(cb.subarray(0, k), at);
      candidates.count += k;
      vBlock.add(vb, state[4]!);
      vWord.add(vw, state[4]!);
      rbBlock.add(rb, state[5]!);
      rbParent.add(rp, state[5]!);
      hashRefs.add(hr, state[6]!);
      if (status === 0) break;
    }
  } finally {
    pinned.delete(held);
  }
  return {
    slack,
    candidates,
    vtables: {
      block: vBlock.join((m) => new Uint32Array(m)),
      word: vWord.join((m) => new Float64Array(m)),
    },
    rbNodes: {
      block: rbBlock.join((m) => new Uint32Array(m)),
      parent: rbParent.join((m) => new Float64Array(m)),
    },
    hashRefs: hashRefs.join((m) => new Uint32Array(m)),
  };
}
