// The native scan kernel (shim/scan_kernel.c) behind analysis/'s ScanKernel interface.
//
// Blocks are scanned in runs that lie wholly inside one copied chunk: one FFI call per run (a
// handful per capture), never per block. Blocks not wholly copied go through the TypeScript slow
// path, exactly as in analysis/scan.ts, so both kernels give identical edges. `scanKernel()` picks
// the kernel: "ts" or "c" (the user's HEAPSCOPE_SCAN by default) forces one; else the C one when
// the shim has it.

import {
  type AllocationIndex,
  type AllocationTable,
  type EdgeSet,
  finishEdgeSet,
  type IndexKernel,
  type MemoryImage,
  type RangeHits,
  type ScanKernel,
  scanPartialBlock,
  TS_SCAN_KERNEL,
  type WalkKernel,
} from "../analysis/mod.ts";
import {
  f64Array,
  grownU16,
  grownU32,
  prefaultArrays,
  u16Array,
  u32Array,
} from "../analysis/arrays.ts";
import { SegmentList, SegmentWriter } from "../analysis/edge_words.ts";
import {
  nativeCompact,
  nativeDominatorTree,
  nativeFloodFill,
  nativeUnpackOffsets,
} from "./graph_kernel.ts";
import { nativeRecogniseKernel } from "./recognise_kernel.ts";
import { shim, shimSymbol } from "./shim.ts";

type ScanBlocks = NonNullable<ReturnType<typeof shim>["hs_scan_blocks"]>;
type ScanRange = NonNullable<ReturnType<typeof shim>["hs_scan_range"]>;

/**
 * The kernel to use: `want` ("ts" or "c"; by default the user's HEAPSCOPE_SCAN), else C when
 * available, else TypeScript.
 */
export function scanKernel(want: string | undefined = Deno.env.get("HEAPSCOPE_SCAN")): ScanKernel {
  if (want === "ts") return TS_SCAN_KERNEL;
  const c = nativeScanKernel();
  if (want === "c" && !c) {
    throw new Error(
      "HEAPSCOPE_SCAN=c: the native scan kernel is not available (rebuild the shim with `make shim`)",
    );
  }
  return c ?? TS_SCAN_KERNEL;
}

/** The C kernel, or undefined when the shim cannot be loaded or lacks it. */
export function nativeScanKernel(
  /** Tests only: the segment list's first size (default 1024), so that it is regrown. */
  test?: { segmentListCap?: number },
): ScanKernel | undefined {
  let blocks: ScanBlocks | null, range: ScanRange | null;
  try {
    const s = shim();
    blocks = s.hs_scan_blocks;
    range = s.hs_scan_range;
  } catch {
    return undefined;
  }
  if (!blocks || !range) return undefined;
  const dominatorTree = nativeDominatorTree();
  const walkChunks = nativeWalkChunks();
  const index = nativeIndexKernel();
  const floodFill = nativeFloodFill();
  const unpackOffsets = nativeUnpackOffsets();
  const compact = nativeCompact();
  const recognise = nativeRecogniseKernel();
  return {
    name: "c",
    scanBlocks: (memory, index, allocations) =>
      _scanBlocks(blocks, memory, index, allocations, test?.segmentListCap),
    scanRanges: (memory, index, ranges) => _scanRanges(range, memory, index, ranges),
    ...(dominatorTree ? { dominatorTree } : {}),
    ...(walkChunks ? { walkChunks } : {}),
    ...(recognise ? { recognise } : {}),
    ...(index ? { index } : {}),
    ...(floodFill ? { floodFill } : {}),
    ...(unpackOffsets ? { unpackOffsets } : {}),
    ...(compact ? { compact } : {}),
  };
}

/** The chunk walk's common steps in C (hs_walk_chunks), or undefined when the shim lacks them. */
/** AllocationIndex's loops in C, or undefined when the shim lacks them. */
export function nativeIndexKernel(): IndexKernel | undefined {
  const segments = shimSymbol("hs_index_segments"), fill = shimSymbol("hs_index_fill");
  if (!segments || !fill) return undefined;
  const out = new Float64Array(2);
  return {
    segments(starts, sizes, n, gap) {
      let first = new Uint32Array(1024);
      for (;;) {
        const status = segments(starts, sizes, n, gap, first, first.length, out);
        if (status !== 0) throw new Error(`hs_index_segments failed: status ${status}`);
        const count = out[0]!, bad = out[1]!;
        if (bad >= 0) return { first: new Uint32Array(0), bad };
        if (count <= first.length) return { first: first.subarray(0, count), bad: -1 };
        first = new Uint32Array(count);
      }
    },
    fill(starts, sizes, n, first, segStart, segEnd, segTable, bucket, table) {
      const status = fill(
        starts,
        sizes,
        n,
        first,
        first.length,
        segStart,
        segEnd,
        segTable,
        bucket,
        table,
        table.length,
      );
      if (status !== 0) throw new Error(`hs_index_fill failed: status ${status}`);
    },
  };
}

function nativeWalkChunks(): WalkKernel | undefined {
  const walk = shim().hs_walk_chunks;
  if (!walk) return undefined;
  const out = new Float64Array(2);
  return (words, spanStart, spanEnd, p, end, top, address, usable, n, cap) => {
    const status = walk(words, spanStart, spanEnd, p, end, top, address, usable, n, cap, out);
    if (status !== 0) throw new Error(`hs_walk_chunks failed: status ${status}`);
    return { p: out[0]!, n: out[1]! };
  };
}

function _aligned(memory: MemoryImage): boolean {
  return memory.chunks.every((c) => c.start % 8 === 0);
}

function _scanBlocks(
  hs_scan_blocks: ScanBlocks,
  memory: MemoryImage,
  index: AllocationIndex,
  allocations: AllocationTable,
  segmentListCap?: number,
): EdgeSet {
  const n = allocations.length;
  if (n === 0 || !_aligned(memory)) return TS_SCAN_KERNEL.scanBlocks(memory, index, allocations);
  const addresses = allocations.addresses, sizes = allocations.sizes;
  // At most one edge per word, and seldom more than a few per block: the lists are sized at
  // min(words, 6n) up front, sparse (only the pages the scan writes cost memory, the first 2n
  // faulted in ahead, off this thread), so that they are not grown. Growing copied them, and at
  // 10^7 blocks the old and new lists side by side were the run's peak RSS (bench/RESULTS.md).
  let words = 0;
  for (let i = 0; i < n; i++) words += Math.floor(sizes[i]! / 8);
  let cap = Math.max(1024, Math.min(words, 6 * n));
  let target = u32Array(cap, true), word = u16Array(cap, true);
  prefaultArrays(Math.min(cap, 2 * n), target, word);
  const grow = () => {
    cap = Math.ceil(cap * 1.5);
    target = grownU32(target, cap);
    word = grownU16(word, cap);
  };
  // The segment list (blocks over 128 KiB, analysis/edge_words.ts): an entry per 128 KiB.
  const segments = new SegmentList(segmentListCap);
  const writer = new SegmentWriter(segments);
  const start = u32Array(n + 1);
  const out = new Float64Array(5);
  let m = 0, unreadable = 0, bytesScanned = 0;
  let i = 0;
  while (i < n) {
    const addr = addresses[i]!, size = sizes[i]!;
    const ci = memory.find(addr, Math.max(8, size));
    if (ci < 0) {
      unreadable++;
      start[i] = m;
      const part = scanPartialBlock(memory, index, addr, size);
      bytesScanned += part.bytes;
      for (let e = 0; e < part.target.length; e++) {
        if (m === cap) grow();
        target[m] = part.target[e]!;
        word[m] = writer.word(m, i, part.k[e]!) | part.flags[e]!;
        m++;
      }
      i++;
      continue;
    }
    // The run of blocks from i that lie wholly in chunk ci.
    const chunk = memory.chunks[ci]!;
    const chunkEnd = chunk.start + chunk.bytes.length;
    let last = i + 1;
    while (last < n && addresses[last]! + Math.max(8, sizes[last]!) <= chunkEnd) last++;
    let first = i;
    for (;;) {
      const status = hs_scan_blocks(
        chunk.bytes,
        chunk.start,
        chunk.bytes.length,
        addresses,
        sizes,
        first,
        last,
        index.starts,
        index.sizes,
        index.segStart,
        index.segEnd,
        index.segTable,
        index.segStart.length,
        index.table,
        index.min,
        index.max,
        target,
        word,
        m,
        cap,
        segments.edge,
        segments.segment,
        segments.count,
        segments.edge.length,
        start,
        out,
      );
      if (status < 0) throw new Error(`hs_scan_blocks failed: status ${status}`);
      first = out[0]!;
      m = out[1]!;
      bytesScanned += out[2]!;
      segments.count = out[3]!;
      if (status === 0) break;
      if (out[4] === 2) segments.grow();
      else grow();
    }
    i = last;
  }
  start[n] = m;
  return finishEdgeSet(start, target, word, segments, m, unreadable, bytesScanned);
}

/** Same walk over the copied chunks as analysis/scan.ts scanRange, the word loop in C. */
function _scanRanges(
  hs_scan_range: ScanRange,
  memory: MemoryImage,
  index: AllocationIndex,
  ranges: readonly { start: number; end: number }[],
): RangeHits {
  if (index.count === 0 || !_aligned(memory)) {
    return TS_SCAN_KERNEL.scanRanges(memory, index, ranges);
  }
  let cap = 4096;
  let hitAddress = f64Array(cap), hitTarget = u32Array(cap);
  const range: number[] = [], address: number[] = [], target: number[] = [];
  const out = new Float64Array(2);
  const words = (base: number, bytes: Uint8Array, from: number, to: number, r: number) => {
    for (;;) {
      const status = hs_scan_range(
        bytes,
        base,
        bytes.length,
        from,
        to,
        index.starts,
        index.sizes,
        index.segStart,
        index.segEnd,
        index.segTable,
        index.segStart.length,
        index.table,
        index.min,
        index.max,
        hitAddress,
        hitTarget,
        cap,
        out,
      );
      if (status < 0) throw new Error(`hs_scan_range failed: status ${status}`);
      const k = out[1]!;
      for (let h = 0; h < k; h++) {
        range.push(r);
        address.push(hitAddress[h]!);
        target.push(hitTarget[h]!);
      }
      if (status === 0) return;
      from = out[0]!;
      cap *= 2;
      hitAddress = f64Array(cap);
      hitTarget = u32Array(cap);
    }
  };
  for (let r = 0; r < ranges.length; r++) {
    const { start, end } = ranges[r]!;
    for (const { chunk, from, to } of memory.copiedParts(start, end)) {
      words(chunk.start, chunk.bytes, from, to, r);
    }
  }
  return {
    range: Uint32Array.from(range),
    address: Float64Array.from(address),
    target: Uint32Array.from(target),
  };
}
