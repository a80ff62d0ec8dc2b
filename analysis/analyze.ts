// The whole analysis of a native heap, as a list of named phases: heapscope's table of contents.
//
//   enumerate    what the allocator says is allocated (glibc's arenas, or macOS zones)
//   roots        image data, stacks, TLS, registers, other writable memory
//   scan         every word of every block that points into a block (conservative, interior too)
//   scan-roots   every word of every root range and every root register that does
//   live-bytes   requested sizes (a recorder) and unused container capacity narrow what counts
//   types        what each block is: C++ vtables, libstdc++ container parts, object ids
//   graph        the HeapGraph every later phase reads (the same for a Go heap dump)
//   reachability strong evidence, then weak (possibly hidden)  ┐
//   classify     direct, indirect, cycles, each one's entry     │ analysis/analyze_graph.ts
//   attribute    every leaked block under one direct leak       │ (shared with Go heap dumps)
//   dominators   who keeps what alive: retained bytes           ┘
//   roots        each root reference named (global, stack frame, register)
//
// Each phase is linear in the bytes or blocks it touches; see each module for its complexity.

import {
  adoptForArrays,
  copyF64,
  f64Array,
  i32Array,
  prepareArrays,
  releaseArrays,
  trimAdopted,
  u32Array,
} from "./arrays.ts";
import {
  cStringLength,
  endsWithFoot,
  footedLive,
  MIN_TEXT,
  ownRulesApply,
  pointsIntoRegions,
  printableByte,
  TEXT_SCAN,
  textLive,
  typedTails,
  weakReason,
} from "./slack_rules.ts";
import { AllocationIndex } from "./alloc_index.ts";
import { AllocationTable } from "./allocation_table.ts";
import { analyzeGraph, PhaseTimer, type Progress } from "./analyze_graph.ts";
import { BlockPrefixes } from "./block_prefixes.ts";
import { nativeGraph } from "./build_graph.ts";
import { EDGE_INTERIOR, EDGE_WEAK, type HeapGraph } from "./graph.ts";
import { wordOffset } from "./edge_words.ts";
import {
  recogniseContainers,
  type References,
  WEAK_FROM_MAX,
  weakFromSizes,
} from "./containers.ts";
import { AnalysisError } from "./errors.ts";
import { detectAllocator, enumerateGlibc } from "./glibc/mod.ts";
import { darwinHeapRanges } from "./mach_regions.ts";
import { finishTypes, inferTypes } from "./block_types.ts";
import type { OidTable } from "./go/oid_file.ts";
import { ImageIndex } from "./image_index.ts";
import { RootNamer } from "./root_names.ts";
import type { Recognised } from "./recognise_kernel.ts";
import { MemoryImage, NO_WINDOW } from "./memory.ts";
import { collectRoots, subtract } from "./roots.ts";
import {
  type EdgeSet,
  edgeSources,
  type RangeHits,
  type ScanKernel,
  SourceCursor,
  TS_SCAN_KERNEL,
} from "./scan.ts";
import {
  type Analysis,
  type HeapEnumeration,
  type ImageFiles,
  isLeaked,
  type MemoryChunk,
  type Region,
  type RootRef,
  type Snapshot,
  STATUS_POSSIBLE,
} from "./types.ts";

export type { Progress } from "./analyze_graph.ts";

export interface AnalyzeOptions {
  progress?: Progress;
  /** The conservative scan to use (default: the TypeScript one; ffi/ has a native one). */
  kernel?: ScanKernel;
  /**
   * What a recorder knows of each live block, by address (heapscope run): the requested size
   * (only those bytes are scanned) and the allocation time in ns (a leaked cycle's entry is the
   * member allocated first).
   */
  recorded?: ReadonlyMap<number, { size: number; timeNs: number }>;
  /** Recognise libstdc++ containers' unused capacity (default true; tests turn it off). */
  containers?: boolean;
  /**
   * The images' files (symbols, read-only data, call frame information): for type names and root
   * names. Without them blocks are typed from copied memory only and roots are named by kind.
   */
  imageFiles?: ImageFiles;
  /** Demangles C++ and Rust names (analysis/demangle.ts, loaded by the caller). */
  demangle?: (name: string) => string;
  /**
   * "file:line" of code addresses (debug info, through ffi/symbolize.ts's frameLinesSync): stack
   * roots then name their line, "make_tree frame in thread 12 (tree.c:40)". Asked once, for every
   * frame of every thread.
   */
  frameLines?: ((pcs: readonly number[]) => ReadonlyMap<number, string>) & {
    /**
     * Start answering for `pcs` now, off the analysis's thread (ffi/symbolize.ts runs the tool
     * beside the analysis): asked with every frame's code address before the scan.
     */
    prefetch?: (pcs: readonly number[]) => void;
    /** Stop what prefetch started when its answer was not read (see ffi/symbolize.ts). */
    release?: () => void;
  };
  /** heapspurs-style object ids: a 64-bit value in a block's first word names it. */
  oids?: OidTable;
  /** Compute the dominator tree and retained sizes (default true). */
  dominators?: boolean;
  /**
   * Give the pages of a piece of copied memory back now (ffi/copy_buffers.ts discardCopied: true
   * when it did). With it, the heap's copy is dropped as soon as the leaked blocks are known
   * (after reachability; their first bytes are kept in `leakedPrefix`), so that classification,
   * the dominators and the output reuse its pages, warm, instead of faulting in fresh memory.
   * Leave it out when the caller reads blocks' bytes after the analysis (`heapscope why`:
   * graph.bytes).
   */
  discard?: (bytes: Uint8Array) => boolean;
}

/** Enumerate the target's allocations: macOS zones come in the snapshot, glibc is parsed here. */
export function enumerateHeap(snapshot: Snapshot, kernel?: ScanKernel): HeapEnumeration {
  if (snapshot.zoneAllocations) {
    const allocations = AllocationTable.from(
      [...snapshot.zoneAllocations].sort((a, b) => a.address - b.address),
    );
    // The malloc regions hold the blocks themselves: never roots, or every block would look reachable.
    return {
      allocator: "libmalloc zones",
      allocations,
      excluded: [],
      heapRanges: darwinHeapRanges(snapshot.regions),
      warnings: [],
    };
  }
  const found = detectAllocator(snapshot);
  if (found.kind === "foreign") {
    throw new AnalysisError(
      `Cannot enumerate the allocations of process ${snapshot.pid}: it uses ${found.name}, which heapscope cannot read yet`,
      [
        `Evidence: ${found.evidence}`,
        "heapscope reads glibc malloc (Linux) and libmalloc zones (macOS); reporting leaks without the allocator's own view would give false results",
        ...(found.hint ? [found.hint] : []),
      ],
    );
  }
  if (found.kind === "unknown") {
    throw new AnalysisError(
      `Cannot enumerate the allocations of process ${snapshot.pid}: no allocator heapscope can read was found`,
      [
        `Evidence: ${found.evidence}`,
        "heapscope reads glibc malloc (a dynamically linked libc.so.6, or a static executable with glibc's main_arena)",
      ],
    );
  }
  // The walker's own refusals (main_arena not found) are AnalysisErrors with their hint.
  return enumerateGlibc(snapshot, { walk: kernel?.walkChunks });
}

/** Run every phase on a snapshot (a bare function is taken as `progress`). */
export function analyze(snapshot: Snapshot, options: AnalyzeOptions | Progress = {}): Analysis {
  const opts = typeof options === "function" ? { progress: options } : options;
  const phases = new PhaseTimer(opts.progress);
  const heap = phases.run("enumerate", () => enumerateHeap(snapshot, opts.kernel));
  return analyzeHeap(snapshot, heap, opts, phases);
}

/** Every phase after enumeration, on a given allocation list (tests build one by hand). */
export function analyzeHeap(
  snapshot: Snapshot,
  heap: HeapEnumeration,
  opts: AnalyzeOptions = {},
  phases = new PhaseTimer(opts.progress),
): Analysis {
  try {
    return analyzeHeapPhases(snapshot, heap, opts, phases);
  } finally {
    // A line tool started early and never read is stopped now (see FrameLines.release).
    opts.frameLines?.release?.();
  }
}

function analyzeHeapPhases(
  snapshot: Snapshot,
  heap: HeapEnumeration,
  opts: AnalyzeOptions,
  phases: PhaseTimer,
): Analysis {
  const kernel = opts.kernel ?? TS_SCAN_KERNEL;
  const memory = new MemoryImage(snapshot.memory);
  const allocations = heap.allocations;
  // With a discard, only the arrays made before it are faulted in ahead: those after it get the
  // copy's pages, warm.
  prepareArrays(
    allocations.length * (opts.discard ? ARRAY_BYTES_TO_PEAK : ARRAY_BYTES_PER_BLOCK),
  );
  const images = new ImageIndex(snapshot.images, snapshot.regions, opts.imageFiles);
  const namer = new RootNamer(
    snapshot,
    memory,
    images,
    opts.imageFiles,
    opts.demangle,
    opts.frameLines,
  );
  // The stack frames' lines are looked up beside every phase below (the tool takes ~0.1–0.3 s
  // to start and read the debug info, on the other core).
  if (opts.frameLines?.prefetch) {
    phases.run("root-names", () => opts.frameLines!.prefetch!(namer.frameCodes()));
  }
  const index = phases.run("index", () => new AllocationIndex(allocations, kernel.index));
  const roots = phases.run("roots", () => collectRoots(snapshot, memory, heap));
  const blockEdges = phases.run("scan", () => kernel.scanBlocks(memory, index, allocations));
  const rootHits = phases.run("scan-roots", () => kernel.scanRanges(memory, index, roots.ranges));
  const registerHits = roots.registers.map((r) => ({ reg: r, target: index.lookup(r.value) }))
    .filter((h) => h.target >= 0);
  // The scans were the lookups that need the table (4 bytes per 256 of heap span: ~85 MB on a
  // 5 GB heap, resident through the recognise pass before); the types' few search the columns.
  index.release();

  const requested = opts.recorded ? requestedSizes(allocations, opts.recorded) : undefined;
  const refs = scanReferences(allocations, blockEdges, rootHits);
  // libstdc++'s (or libc++'s) layouts only where that runtime is loaded (recogniseContainers).
  const cxx = snapshot.images.some((i) => CXX_RUNTIME.test(i.path));
  let found: Recognised | undefined;
  const live = phases.run("live-bytes", () => {
    // Read only, unless a recorder narrows it: then a copy.
    const initial = requested ? copyF64(allocations.sizes) : allocations.sizes;
    if (requested) {
      for (let i = 0; i < initial.length; i++) {
        if (requested[i]! >= 0) initial[i] = Math.min(initial[i]!, requested[i]!);
      }
    }
    // The native pass reads, once, what slackWords, the containers and the types read.
    found = kernel.recognise?.({
      memory,
      allocations,
      requested,
      regions: {
        starts: Float64Array.from(snapshot.regions, (r) => r.start),
        ends: Float64Array.from(snapshot.regions, (r) => r.end),
      },
      spans: images.fileSpans(),
      refs: refs.raw!,
    });
    const weakFrom = found?.slack ??
      slackWords(allocations, memory, snapshot.regions, requested);
    if (opts.containers === false) {
      return {
        scanSize: initial,
        weakFrom,
        skipped: new Set<number>(),
        bodies: new Map<number, "string" | "vector">(),
        strings: 0,
        vectors: 0,
      };
    }
    return recogniseContainers(
      memory,
      allocations.addresses,
      allocations.sizes,
      initial,
      refs,
      weakFrom,
      found?.candidates,
      cxx,
    );
  });
  // The container candidates are read (the types read the other lists): given back before the
  // types' arrays are made, at the run's peak.
  if (found) {
    const c = found.candidates;
    releaseArrays(c.r, c.x, c.kind, c.a, c.b);
  }
  const types = phases.run("types", () =>
    inferTypes({
      memory,
      addresses: allocations.addresses,
      sizes: allocations.sizes,
      images,
      demangle: opts.demangle,
      bodies: live.bodies,
      blockAt: (a) => index.search(a),
      refs,
      oids: opts.oids,
      cxxRuntime: cxx,
      found,
      // Made whole (every page written) only once the copy is given back: in `reached` below.
      sparse: true,
    }));
  // A typed group's last word that nearly every block points from is a field, not slack. Not for a
  // block whose requested size the recorder knows: its weak words are exactly its slack.
  if (types.names.length > 0) {
    phases.run("types", () => {
      const column = types.type, sparse = types.sparse === true;
      typedTails(
        allocations.length,
        (i) =>
          requested !== undefined && requested[i]! >= 0 ? -1 : sparse ? column[i]! - 1 : column[i]!,
        allocations.sizes,
        live.weakFrom,
        (i) => {
          const v = memory.u64(allocations.addresses[i]! + allocations.sizes[i]! - 8);
          return v !== undefined && v !== 0 && index.search(v) >= 0;
        },
      );
    });
  }
  // Nothing reads what the recognisers found after this (the slack is weakFrom's, given back after
  // the graph): given back before the graph's arrays are made.
  if (found) {
    const { vtables, rbNodes } = found;
    releaseArrays(vtables.block, vtables.word, rbNodes.block, rbNodes.parent, found.hashRefs);
  }

  const packed = phases.run("graph", () =>
    nativeGraph({
      memory,
      allocations,
      blockEdges,
      rootHits,
      rootRanges: roots.ranges,
      registerHits,
      scanSize: live.scanSize,
      weakFrom: live.weakFrom,
      skipped: live.skipped,
      types,
      unpackOffsets: kernel.unpackOffsets,
      compact: kernel.compact,
    }));
  // The live bytes are in the edges' flags now: given back before reachability, the run's peak
  // (4 bytes a block, 12 where containers narrowed the sizes). Never the allocation table's own
  // sizes, which scanSize is when nothing narrowed them.
  for (const a of [live.scanSize, live.weakFrom, found?.slack]) {
    if (a !== undefined && a !== allocations.sizes) releaseArrays(a);
  }
  // The edges' flags for the reachability, in that memory (1 byte an edge); their offsets stay in
  // the 16-bit words until the copy is dropped (analysis/edge_words.ts).
  const graph = packed.graph;
  phases.run("graph", () => packed.unpackFlags());
  // Past the peaks (the copy, the index or the live bytes, and the scan's edges all resident):
  // the reachability's arrays may be faulted in ahead now.
  if (opts.discard) {
    prepareArrays(allocations.length * (ARRAY_BYTES_BEFORE_DROP - ARRAY_BYTES_TO_PEAK));
  }
  const allocatedAt = opts.recorded ? allocationTimes(allocations, opts.recorded) : undefined;
  // Lines only for the frames that hold a root (the symbolizer then loads only their images).
  if (opts.frameLines) {
    phases.run("root-names", () => {
      const refs: { thread: number; where: number }[] = [];
      const roots = graph.roots;
      for (let r = 0; r < roots.target.length; r++) {
        const e = roots.entries[roots.entry[r]!]!;
        if ((e.kind === "stack" || e.kind === "tls") && e.thread !== undefined) {
          refs.push({ thread: e.thread, where: roots.where[r]! });
        }
      }
      namer.wantLinesFor(refs);
    });
  }
  // Named just before the dominators (analyzeGraph calls it): the lines of stack roots' frames
  // come from llvm-symbolizer, started at the analysis's start; asked for here, before the
  // reachability, it kept the run waiting 13-41 ms at 10^6 blocks.
  const holders = opts.dominators === false
    ? undefined
    : () => phases.run("root-names", () => rootHolders(graph, namer));
  // The first bytes of leaked blocks, so that the copied memory can be dropped early: here (with
  // opts.discard) or by the caller (releaseMemory).
  let leakedPrefix: BlockPrefixes | undefined;
  let links = new Map<number, string>();
  const reached = (state: Uint8Array, via: Int32Array) => {
    leakedPrefix = leakedPrefixes(memory, allocations, state);
    links = weakLinks(
      graph,
      (v, e) =>
        wordOffset(
          packed.word,
          packed.segments,
          graph.edges.start,
          v,
          allocations.addresses[v]!,
          allocations.sizes[v]!,
          e,
        ),
      state,
      via,
      memory,
      snapshot.regions,
      requested,
    );
    if (opts.discard) {
      dropHeapCopy(snapshot, memory, heap.heapRanges, namer, opts.discard);
      prepareArrays(allocations.length * (ARRAY_BYTES_PER_BLOCK - ARRAY_BYTES_BEFORE_DROP));
    }
    // The edges' 32-bit offsets, in the copy's pages now, for every phase after.
    packed.unpackOffsets();
    // The graph's type column (the types' array) in its final form: nothing read it before.
    finishTypes(types);
  };
  const result = analyzeGraph(graph, {
    allocatedAt,
    preferred: types.objects,
    dominators: opts.dominators,
    holders,
    dominatorTree: kernel.dominatorTree,
    floodFill: kernel.floodFill,
    reached,
  }, phases);
  leakedPrefix ??= leakedPrefixes(memory, allocations, result.status);

  const warnings = [...heap.warnings, ...roots.warnings];
  const analysis: Analysis = {
    ...result,
    snapshot,
    heap: { ...heap, warnings },
    ...(requested ? { requested } : {}),
    leakedPrefix,
    weakLinks: links,
    // Made now, past the peak (4 bytes an edge): the graph's CSR holds the same.
    edgeSource: edgeSources(graph.edges.start),
    edgeTarget: graph.edges.target,
    edgeOffset: graph.edges.offset,
    roots: phases.run("root-names", () => firstRootRefs(graph, result.rootRef, namer)),
    names: {
      root: (r) => namer.name(graph.roots.entries[graph.roots.entry[r]!]!, graph.roots.where[r]!),
      symbol: (address) => {
        const sym = images.symbolAt(address);
        if (!sym) return undefined;
        const name = opts.demangle ? opts.demangle(sym.name) : sym.name;
        return sym.offset ? `${name}+0x${sym.offset.toString(16)}` : name;
      },
    },
  };
  // The copy's pages no array took go back now, before the outputs are made.
  trimAdopted();
  return analysis;
}

/**
 * For each possible block the search reached through a weak word of its holder (`via`, a block):
 * the rule that makes that word weak, read from the holder's bytes (slack_rules.ts weakReason).
 * Made while the copy is there; O(blocks + the holders' edges), each holder's edges read once.
 */
function weakLinks(
  graph: HeapGraph,
  offsetOf: (v: number, e: number) => number,
  state: Uint8Array,
  via: Int32Array,
  memory: MemoryImage,
  regions: readonly Region[],
  requested: Float64Array | undefined,
): Map<number, string> {
  const out = new Map<number, string>();
  const { nodes, edges } = graph;
  const held = new Map<number, Set<number>>();
  for (let v = 0; v < state.length; v++) {
    const u = via[v]!;
    if (state[v] !== STATUS_POSSIBLE || u < 0) continue;
    const set = held.get(u);
    if (set) set.add(v);
    else held.set(u, new Set([v]));
  }
  const mmap = nodes.zoneNames.indexOf("mmap");
  const mapped = pointsIntoRegions(regions);
  for (const [u, vs] of held) {
    // Each target's first weak edge from u, unless a strong one reaches it too (then its link
    // is not a weak word).
    const weak = new Map<number, number>(), strong = new Set<number>();
    for (let e = edges.start[u]!; e < edges.start[u + 1]!; e++) {
      const t = edges.target[e]!;
      if (!vs.has(t)) continue;
      if (edges.flags && (edges.flags[e]! & EDGE_WEAK) !== 0) {
        if (!weak.has(t)) weak.set(t, e);
      } else strong.add(t);
    }
    const size = nodes.size[u]!, address = nodes.address[u]!;
    const head = memory.slice(address, Math.min(size, TEXT_SCAN));
    if (!head) continue;
    const last = size >= 16 ? memory.u64(address + size - 8) ?? -1 : -1;
    const rules = ownRulesApply(nodes.zone[u]!, mmap, requested?.[u]) ? mapped : undefined;
    for (const [v, e] of weak) {
      if (!strong.has(v)) out.set(v, weakReason(size, head, last, offsetOf(u, e), rules));
    }
  }
  return out;
}

/**
 * Up to LEAKED_PREFIX_BYTES of each leaked block (`isLeaked(status[i])`: a final status, or the
 * reachability's state), copied out of `memory`. O(n).
 */
function leakedPrefixes(
  memory: MemoryImage,
  allocations: AllocationTable,
  status: Uint8Array,
): BlockPrefixes {
  const n = allocations.length;
  let leaked = 0;
  for (let i = 0; i < n; i++) if (isLeaked(status[i]!)) leaked++;
  const ids = u32Array(leaked);
  for (let i = 0, k = 0; i < n; i++) if (isLeaked(status[i]!)) ids[k++] = i;
  return BlockPrefixes.copy(memory, ids, allocations.addresses, allocations.sizes);
}

/**
 * Drop the copy of the heap (every chunk inside one of `heapRanges`, whose pages `discard` gave
 * back) from `memory` and the snapshot. Roots lie outside heap ranges and stay, and the threads'
 * frames are unwound first (a stack may lie in a heap block: a coroutine's).
 * O(chunks · ranges log ranges).
 */
function dropHeapCopy(
  snapshot: Snapshot,
  memory: MemoryImage,
  heapRanges: readonly { start: number; end: number }[],
  namer: RootNamer,
  discard: (bytes: Uint8Array) => boolean,
): void {
  namer.frameCodes();
  // Inside the heap ranges as a whole: glibc maps a thread arena's 64 MiB heaps next to each
  // other, and they are copied as one chunk.
  const inHeap = (c: MemoryChunk) =>
    subtract([{ start: c.start, end: c.start + c.bytes.length }], heapRanges).length === 0;
  // The arrays made after this take the copy's pages where the array source can (resident
  // already: ~0.01 ms per MB to zero against 1-2 ms per MB for fresh memory the host has taken
  // back); else they are given back and the arrays fault pages in again.
  const gone = new Set(
    memory.drop((c) => inHeap(c) && (adoptForArrays(c.bytes) || discard(c.bytes))),
  );
  if (gone.size > 0) snapshot.memory = snapshot.memory.filter((c) => !gone.has(c));
}

/** The C++ runtimes' libraries (libstdc++.so.6, libc++.so.1, libc++.1.dylib): a process with one is C++. */
const CXX_RUNTIME = /\/lib(std)?c\+\+[^/]*\.(so|dylib)/;

/**
 * About how many bytes of arrays the phases after enumeration ask the arena for per block (~190
 * on the 10^6- and 10^7-block workloads of bench/big_heap.sh, read from the arena's counters; a
 * little more, as what is faulted in ahead and never asked for counts in the peak RSS, and the
 * scan's edge lists have their own sparse mappings). A hint for the array source
 * (analysis/arrays.ts prepareArrays), which may fault them in ahead of use.
 */
const ARRAY_BYTES_PER_BLOCK = 200;
/**
 * Of those, the bytes faulted in ahead before the leaked blocks are known and the copy goes: what
 * is faulted in ahead and not yet asked for counts in the peak RSS, where the copy and the edges
 * are resident. So the hint comes in two parts, each about what is asked for next: up to the end
 * of the recognise pass, the index's table (~4), the scan's starts (4) and the slack (4); after
 * the graph, reachability's retainers, its queue and its states (9; the root references come
 * after the drop). One hint of 40 had the helper ~300 MB ahead at the recognise pass on the
 * 10^7-block payload workload, one of 70 made the 10^7 workload's peak 3555 MB at the scan
 * (bench/RESULTS.md, sixth and seventh sessions); 14 after the graph had it 48 MiB ahead at the
 * reachability's peak (eighth).
 */
const ARRAY_BYTES_BEFORE_DROP = 21;
/** The first part of ARRAY_BYTES_BEFORE_DROP (see there). */
const ARRAY_BYTES_TO_PEAK = 12;

/**
 * Each root reference's holder for the dominator tree: its name without the offset inside the
 * variable ("g_registry in ./server", "make_tree frame in thread 12", "rbx of thread 12"), so the
 * words of one variable or frame hold together. O(root references · log symbols).
 */
function rootHolders(
  graph: Analysis["graph"],
  namer: RootNamer,
): { key: Int32Array; names: string[] } {
  const roots = graph.roots;
  const key = i32Array(roots.target.length);
  const ids = new Map<string, number>();
  const names: string[] = [];
  for (let r = 0; r < key.length; r++) {
    const entry = roots.entries[roots.entry[r]!]!;
    let name = namer.name(entry, roots.where[r]!).replace(/\+0x[0-9a-f]+(?= in )/, "");
    // Data no symbol covers: the image's data as a whole.
    if (entry.kind === "data" && !name.includes(" in ")) {
      name = name.replace(/\+0x[0-9a-f]+$/, "") + " (data without symbols)";
    }
    let id = ids.get(name);
    if (id === undefined) {
      ids.set(name, id = names.length);
      names.push(name);
    }
    key[r] = id;
  }
  return { key, names };
}

/**
 * Where each block's weak words start, when the requested size is unknown. glibc gives a request
 * of r bytes a usable size U with r in [U − 15, U] (more when a free chunk is handed out whole),
 * so the last word is unused, and may hold a stale pointer from the memory's earlier life, for
 * every r ≤ U − 8: a reference found only there is weak evidence. A block that holds a C string
 * (strdup, xmlStrndup: at least MIN_TEXT printable bytes and a NUL) was asked for the string's
 * length: the words from the one holding the first byte past its NUL are weak too (that word's
 * bytes past the NUL are the memory's earlier life: a stale pointer with only its low byte
 * overwritten by the NUL still looks like one). A block whose last word is glibc's foot keeps its
 * last three words weak (footedLive). Mmapped chunks are fresh from the kernel (zero), and a
 * recorded block's requested size is known: none there. O(blocks · text bytes).
 */
export function slackWords(
  allocations: AllocationTable,
  memory: MemoryImage,
  regions: readonly Region[],
  requested?: Float64Array,
): Uint32Array {
  const mmap = allocations.zones.indexOf("mmap");
  const out = weakFromSizes(allocations.sizes);
  const mapped = pointsIntoRegions(regions);
  const words = memory.wordReader();
  let win = NO_WINDOW, ws = 0, we = 0, W = win.words;
  for (let i = 0; i < out.length; i++) {
    if (!ownRulesApply(allocations.zoneIds[i]!, mmap, requested?.[i])) continue;
    const size = allocations.sizes[i]!, address = allocations.addresses[i]!;
    if (size >= 16) out[i] = Math.min(size - 8, WEAK_FROM_MAX);
    if (endsWithFoot(size, words.u64(address + size - 8) ?? -1)) {
      out[i] = Math.min(footedLive(size), WEAK_FROM_MAX);
    }
    // Most blocks start with a pointer or a small number: not text. One load decides (from the
    // chunk's window in locals, see MemoryImage.window).
    if (address < ws || address + 8 > we) {
      win = memory.window(address) ?? NO_WINDOW;
      ws = win.start;
      we = win.end;
      W = win.words;
      if (address < ws || address + 8 > we) continue;
    }
    const k = (address - ws) / 4; // not >>> 2: a chunk may pass 4 GiB
    if (!printableByte(W[k]! & 0xff)) continue;
    const text = address + Math.min(size, TEXT_SCAN) <= we
      ? textInWords(W, k, Math.min(size, TEXT_SCAN))
      : textLength(memory, address, size);
    if (text >= MIN_TEXT && !mapped(words.u64(address) ?? 0)) {
      out[i] = Math.min(out[i]!, textLive(text));
    }
  }
  return out;
}

/** textLength() on the `len` bytes from word `k` of a chunk's words (no view made). */
function textInWords(W: Uint32Array, k: number, len: number): number {
  for (let i = 0; i < len; i++) {
    const c = (W[k + (i >>> 2)]! >>> ((i & 3) * 8)) & 0xff;
    if (c === 0) return i;
    if (!printableByte(c)) return -1;
  }
  return -1;
}

/** Length of the C string at `address` (printable bytes, then a NUL within `size`), else -1. */
function textLength(memory: MemoryImage, address: number, size: number): number {
  const bytes = memory.slice(address, Math.min(size, TEXT_SCAN));
  return bytes ? cStringLength(bytes) : -1;
}

/** Per node the recorder's requested size, -1 when the recorder did not see the block. O(n). */
function requestedSizes(
  allocations: AllocationTable,
  recorded: ReadonlyMap<number, { size: number }>,
): Float64Array {
  const out = f64Array(allocations.length).fill(-1);
  for (let i = 0; i < out.length; i++) {
    const r = recorded.get(allocations.addresses[i]!);
    if (r) out[i] = r.size;
  }
  return out;
}

function allocationTimes(
  allocations: AllocationTable,
  recorded: ReadonlyMap<number, { timeNs: number }>,
): Float64Array {
  const out = f64Array(allocations.length).fill(NaN);
  for (let i = 0; i < out.length; i++) {
    const r = recorded.get(allocations.addresses[i]!);
    if (r) out[i] = r.timeNs;
  }
  return out;
}

/** The scan's block edges, then its root hits, as References (read in place). */
export function scanReferences(
  allocations: AllocationTable,
  edges: EdgeSet,
  hits: RangeHits,
): References {
  const m = edges.target.length;
  const addresses = allocations.addresses;
  const { target, word, segments, start } = edges;
  const sizes = allocations.sizes;
  const hitAddress = hits.address, hitTarget = hits.target;
  const source = new SourceCursor(start);
  const where = (r: number) => {
    const v = source.of(r), a = addresses[v]!;
    return a + wordOffset(word, segments, start, v, a, sizes[v]!, r);
  };
  return {
    count: m + hitTarget.length,
    where: (r) => r < m ? where(r) : hitAddress[r - m]!,
    holder: (r) => r < m ? source.of(r) : -1,
    target: (r) => r < m ? target[r]! : hitTarget[r - m]!,
    exact: (r) => r < m ? ((word[r]! & EDGE_INTERIOR) === 0 ? 1 : 0) : -1,
    raw: { addresses, start, target, word, segments, hitAddress, hitTarget },
  };
}

/** leaks.json's `roots`: the first reference of each node a root reaches directly, named. */
function firstRootRefs(graph: Analysis["graph"], rootRef: Int32Array, namer: RootNamer): RootRef[] {
  const out: RootRef[] = [];
  const roots = graph.roots;
  for (let v = 0; v < rootRef.length; v++) {
    const r = rootRef[v]!;
    if (r < 0) continue;
    const entry = roots.entries[roots.entry[r]!]!;
    const weak = roots.flags !== undefined && (roots.flags[r]! & EDGE_WEAK) !== 0;
    const { kind, name } = namer.describe(entry, roots.where[r]!);
    out.push({
      kind,
      ...(entry.thread !== undefined ? { thread: entry.thread } : {}),
      ...(entry.image !== undefined ? { image: entry.image } : {}),
      address: roots.where[r]!,
      ...(entry.kind === "register" ? { register: entry.name } : {}),
      target: v,
      ...(weak ? { weak } : {}),
      name,
    });
  }
  return out;
}

/**
 * Drop the snapshot's copied memory once nothing needs it (leaked blocks' first bytes are kept in
 * `leakedPrefix`): hundreds of MB less at the peak while the output is written.
 */
export function releaseMemory(analysis: Analysis): void {
  analysis.snapshot.memory = [];
}
