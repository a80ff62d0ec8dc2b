// The native shim: its one FFI symbols table, its loader (with HEAPSCOPE_SHIM override) and unwrap().

import { materialize, runningCompiled } from "./embedded.ts";
import { CaptureError, type CaptureErrorCode } from "./errors.ts";

/** HS_ABI_VERSION of shim/heapscope.h that this table matches. */
export const ABI_VERSION = 4;

/** The C ABI of shim/heapscope.h. */
export const symbols = {
  /** int32_t hs_abi_version(void) */
  hs_abi_version: { parameters: [], result: "i32" },
  /** const char *hs_last_error(void) */
  hs_last_error: { parameters: [], result: "pointer" },
  hs_attach: {
    parameters: [
      "i32", // int32_t pid
      "u32", // uint32_t timeout_ms
      "buffer", // hs_target **out
    ],
    result: "i32",
  },
  hs_thread_count: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // uint32_t *count
    ],
    result: "i32",
  },
  hs_thread_ids: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // int64_t *ids
      "u32", // uint32_t cap
      "buffer", // uint32_t *count
    ],
    result: "i32",
  },
  hs_thread_regs: {
    parameters: [
      "pointer", // hs_target *t
      "u32", // uint32_t index
      "u32", // uint32_t kind
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
      "buffer", // uint32_t *len
    ],
    result: "i32",
  },
  hs_read_ranges: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // const uint64_t *ranges
      "u32", // uint32_t n
      "buffer", // uint8_t *dst
      "buffer", // uint64_t *missing
    ],
    result: "i32",
  },
  hs_regions: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // uint64_t *records
      "u32", // uint32_t cap
      "buffer", // uint32_t *count
    ],
    result: "i32",
  },
  hs_zone_allocations: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // uint64_t *records
      "u64", // uint64_t cap
      "buffer", // uint64_t *count
      "buffer", // char *zone_names
      "u32", // uint32_t names_cap
    ],
    result: "i32",
  },
  hs_images: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
      "buffer", // uint32_t *len
      "buffer", // uint32_t *count
    ],
    result: "i32",
  },
  hs_run_threads: {
    parameters: [
      "pointer", // hs_target *t
      "buffer", // const uint32_t *indices
      "u32", // uint32_t n
      "u32", // uint32_t run_us
      "u32", // uint32_t timeout_ms
      "buffer", // uint32_t *ran
      "buffer", // uint32_t *added
    ],
    result: "i32",
  },
  hs_resident_ranges: {
    parameters: [
      "i32", // int32_t pid
      "buffer", // const uint64_t *ranges
      "u32", // uint32_t n
      "buffer", // uint64_t *out
      "u32", // uint32_t cap
      "buffer", // uint32_t *count
      "buffer", // uint64_t *cursor
      "buffer", // uint32_t *method
    ],
    result: "i32",
  },
  hs_buffer_alloc: {
    parameters: [
      "u64", // uint64_t len
      "u32", // uint32_t huge
      "buffer", // uint64_t *ptr
      "buffer", // uint64_t *mapped
      "buffer", // uint32_t *advised
    ],
    result: "i32",
  },
  hs_buffer_populate: {
    parameters: [
      "u64", // uint64_t ptr
      "u64", // uint64_t from
      "u64", // uint64_t to
      "buffer", // uint64_t *huge_bytes
    ],
    result: "i32",
  },
  hs_buffer_free: {
    parameters: [
      "u64", // uint64_t ptr
      "u64", // uint64_t mapped
    ],
    result: "i32",
  },
  hs_buffer_discard: {
    parameters: [
      "u64", // uint64_t ptr
      "u64", // uint64_t len
    ],
    result: "i32",
    optional: true,
  },
  hs_alive: {
    parameters: [
      "pointer", // hs_target *t
    ],
    result: "i32",
  },
  hs_resume: {
    parameters: [
      "pointer", // hs_target *t
    ],
    result: "i32",
  },
  hs_close: {
    parameters: [
      "pointer", // hs_target *t
    ],
    result: "void",
  },
  // The scan kernel (shim/scan_kernel.c). Optional: a shim built before it still loads, and the
  // TypeScript scan is used (ffi/scan_kernel.ts).
  hs_scan_blocks: {
    parameters: [
      "buffer", // const uint8_t *mem
      "f64", // double base
      "f64", // double len
      "buffer", // const double *addr
      "buffer", // const double *size
      "u32", // uint32_t first
      "u32", // uint32_t last
      "buffer", // const double *starts
      "buffer", // const double *sizes (a block ends at start + max(size, 1))
      "buffer", // const double *seg_start
      "buffer", // const double *seg_end
      "buffer", // const int32_t *seg_table
      "u32", // uint32_t segs
      "buffer", // const int32_t *table
      "f64", // double min
      "f64", // double max
      "buffer", // uint32_t *target
      "buffer", // uint16_t *word
      "u32", // uint32_t m0
      "u32", // uint32_t cap
      "buffer", // uint32_t *seg_edge
      "buffer", // uint32_t *seg_segment
      "u32", // uint32_t seg_m0
      "u32", // uint32_t seg_cap
      "buffer", // uint32_t *start
      "buffer", // double *out
    ],
    result: "i32",
    optional: true,
  },
  hs_scan_range: {
    parameters: [
      "buffer", // const uint8_t *mem
      "f64", // double base
      "f64", // double len
      "f64", // double from
      "f64", // double to
      "buffer", // const double *starts
      "buffer", // const double *sizes (a block ends at start + max(size, 1))
      "buffer", // const double *seg_start
      "buffer", // const double *seg_end
      "buffer", // const int32_t *seg_table
      "u32", // uint32_t segs
      "buffer", // const int32_t *table
      "f64", // double min
      "f64", // double max
      "buffer", // double *hit_address
      "buffer", // uint32_t *hit_target
      "u32", // uint32_t cap
      "buffer", // double *out
    ],
    result: "i32",
    optional: true,
  },
  // A child read synchronously (shim/spawn.c): the symbolizer run beside the analysis.
  hs_spawn_reader: {
    parameters: ["buffer", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
    optional: true,
  },
  hs_read_fd: { parameters: ["i32", "buffer", "u64", "buffer"], result: "i32", optional: true },
  hs_reap: { parameters: ["i32", "i32", "buffer"], result: "i32", optional: true },
  // The analysis's arena (shim/arena_linux.c; Linux only, optional: ffi/huge_arrays.ts).
  hs_arena_open: { parameters: ["u64", "u64", "buffer"], result: "i32", optional: true },
  hs_arena_alloc: { parameters: ["u64", "u64", "buffer"], result: "i32", optional: true },
  hs_arena_prepare: { parameters: ["u64", "u64"], result: "i32", optional: true },
  hs_arena_release: { parameters: ["u64", "u64", "u64"], result: "i32", optional: true },
  hs_arena_populate: { parameters: ["u64", "u64", "u64"], result: "i32", optional: true },
  hs_arena_stats: { parameters: ["u64", "buffer"], result: "i32", optional: true },
  // floodFill's search (shim/graph_kernel.c). Optional, as the scan kernel.
  hs_flood_fill: {
    parameters: [
      "u32", // uint32_t n
      "buffer", // const uint32_t *start
      "buffer", // const uint32_t *target
      "buffer", // const uint8_t *flags
      "u32", // uint32_t skip
      "buffer", // const uint32_t *seeds
      "u32", // uint32_t nseeds
      "u32", // uint32_t resume
      "buffer", // int32_t *via
      "buffer", // uint32_t *queue
    ],
    result: "i32",
    optional: true,
  },
  // edge_words.ts unpackOffsets (shim/graph_kernel.c). Optional, as the scan kernel.
  hs_unpack_offsets: {
    parameters: [
      "u32", // uint32_t n
      "buffer", // const uint32_t *start
      "buffer", // const uint16_t *word
      "buffer", // const uint32_t *seg_edge
      "buffer", // const uint32_t *seg_segment
      "u32", // uint32_t seg_n
      "buffer", // const double *addr
      "buffer", // uint32_t *offset
    ],
    result: "i32",
    optional: true,
  },
  // build_graph.ts nativeGraph's pass (shim/graph_kernel.c). Optional, as the scan kernel.
  hs_graph_compact: {
    parameters: [
      "u32", // uint32_t n
      "buffer", // uint32_t *start
      "buffer", // uint32_t *target
      "buffer", // uint16_t *word
      "buffer", // uint32_t *seg_edge
      "buffer", // uint32_t *seg_segment
      "u32", // uint32_t seg_n
      "buffer", // const double *addr
      "buffer", // const double *scan_size
      "buffer", // const uint32_t *weak_from
      "buffer", // const double *skip
      "u32", // uint32_t nskip
      "buffer", // double *out
    ],
    result: "i32",
    optional: true,
  },
  // AllocationIndex's loops (shim/scan_kernel.c). Optional, as the scan kernel.
  hs_index_segments: {
    parameters: [
      "buffer", // const double *starts
      "buffer", // const double *sizes
      "u32", // uint32_t n
      "f64", // double gap
      "buffer", // uint32_t *first
      "u32", // uint32_t cap
      "buffer", // double *out
    ],
    result: "i32",
    optional: true,
  },
  hs_index_fill: {
    parameters: [
      "buffer", // const double *starts
      "buffer", // const double *sizes
      "u32", // uint32_t n
      "buffer", // const uint32_t *first
      "u32", // uint32_t segs
      "buffer", // const double *seg_start
      "buffer", // const double *seg_end
      "buffer", // const int32_t *seg_table
      "f64", // double bucket
      "buffer", // int32_t *table
      "u32", // uint32_t table_len
    ],
    result: "i32",
    optional: true,
  },
  // The chunk walk's common steps (shim/scan_kernel.c). Optional, as the scan kernel.
  hs_walk_chunks: {
    parameters: [
      "buffer", // const uint32_t *words
      "f64", // double span_start
      "f64", // double span_end
      "f64", // double p
      "f64", // double end
      "f64", // double top
      "buffer", // double *address
      "buffer", // double *usable
      "u32", // uint32_t n0
      "u32", // uint32_t cap
      "buffer", // double *out
    ],
    result: "i32",
    optional: true,
  },
  // The recognisers' memory-bound loops in one pass (shim/recognise_kernel.c). Optional, as the
  // scan kernel.
  hs_recognise: {
    parameters: ["buffer", "u32", "buffer", "u32", "buffer"],
    result: "i32",
    optional: true,
  },
  // The dominator tree (shim/graph_kernel.c). Optional, as the scan kernel.
  hs_dominators: {
    parameters: [
      "u32", // uint32_t n
      "buffer", // const uint32_t *start
      "buffer", // const uint32_t *target
      "u32", // uint32_t nroots
      "buffer", // const uint32_t *roots
      "buffer", // const double *sizes
      "buffer", // int32_t *pre
      "buffer", // uint32_t *vertex
      "buffer", // int32_t *parent
      "buffer", // uint32_t *stack_node
      "buffer", // uint32_t *stack_edge
      "buffer", // uint32_t *pred_start
      "buffer", // uint32_t *pred
      "u32", // uint32_t pred_cap
      "buffer", // int32_t *semi
      "buffer", // int32_t *label
      "buffer", // int32_t *ancestor
      "buffer", // int32_t *idom
      "buffer", // double *retained
      "buffer", // double *by_pre
      "buffer", // double *out
    ],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

export type Shim = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** hs_status values (shim/heapscope.h) and the CaptureError code each becomes. */
export const STATUS: Record<number, { name: string; code: CaptureErrorCode }> = {
  [-1]: { name: "HS_ERR_NO_PROCESS", code: "no_process" },
  [-2]: { name: "HS_ERR_PERMISSION", code: "permission" },
  [-3]: { name: "HS_ERR_BUSY", code: "busy" },
  [-4]: { name: "HS_ERR_EXITED", code: "exited" },
  [-5]: { name: "HS_ERR_IO", code: "io" },
  [-6]: { name: "HS_ERR_ARG", code: "internal" },
  [-7]: { name: "HS_ERR_STATE", code: "internal" },
  [-8]: { name: "HS_ERR_UNSUPPORTED", code: "unsupported" },
  [-9]: { name: "HS_ERR_INTERNAL", code: "internal" },
  [-10]: { name: "HS_ERR_ZOMBIE", code: "zombie" },
};

let loaded: Shim | undefined;

/** Candidate paths of the shim, in the order they are tried. */
export function shimPaths(): string[] {
  const file = Deno.build.os === "darwin" ? "libheapscope.dylib" : "libheapscope.so";
  const paths: string[] = [];
  const override = Deno.env.get("HEAPSCOPE_SHIM");
  if (override) return [override];
  const home = Deno.env.get("HEAPSCOPE_HOME");
  if (home) paths.push(`${home}/build/${file}`);
  const beside = new URL(`../build/${file}`, import.meta.url).pathname;
  if (runningCompiled()) {
    // Embedded by `make binary`: dlopen needs a real file, so it is copied to a private cache.
    try {
      paths.push(materialize(beside));
    } catch { /* not embedded: the loader reports what it tried */ }
  } else paths.push(beside);
  return paths;
}

/** The shim's symbols, loaded once: HEAPSCOPE_SHIM, else $HEAPSCOPE_HOME/build, else ../build. */
/**
 * The shim's symbol `name`, or undefined when the shim cannot be loaded or has no such symbol (an
 * optional one the build lacks): the native kernels' way to fall back to TypeScript.
 */
export function shimSymbol<K extends keyof Shim>(name: K): NonNullable<Shim[K]> | undefined {
  try {
    return shim()[name] ?? undefined;
  } catch {
    return undefined;
  }
}

export function shim(): Shim {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const path of shimPaths()) {
    let lib: Deno.DynamicLibrary<typeof symbols>;
    try {
      lib = Deno.dlopen(path, symbols);
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message}`);
      continue;
    }
    const abi = lib.symbols.hs_abi_version();
    if (abi !== ABI_VERSION) {
      lib.close();
      throw new CaptureError(
        "internal",
        `Cannot use the native shim "${path}": ABI version ${abi}, expected ${ABI_VERSION}`,
        ["Rebuild it with `make shim`"],
      );
    }
    loaded = lib.symbols;
    return loaded;
  }
  throw new CaptureError("internal", "Cannot load the native shim: no library found", [
    ...tried.map((t) => `tried ${t}`),
    "Build it with `make shim`, or point HEAPSCOPE_SHIM at libheapscope.so",
  ]);
}

/** The shim's last error message on this thread. */
export function lastError(): string {
  const p = shim().hs_last_error();
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/** Throw a CaptureError for a failed hs_status: "`what`: <shim message>". */
export function unwrap(status: number, what: string): void {
  if (status === 0) return;
  const detail = lastError();
  const s = STATUS[status] ?? { name: `status ${status}`, code: "internal" as const };
  throw new CaptureError(s.code, `${what}: ${detail || s.name}`, [], detail);
}
