/* heapscope shim ABI: the only native code heapscope has. Stop a process, copy what the analysis
 * needs, resume it. One header, one backend per platform (heapscope_linux.c, heapscope_macos.c).
 *
 * Rules: every call returns an hs_status (0 = ok, negative = error); data moves in caller-owned
 * batched buffers, never one call per allocation; no analysis happens here. A handle is opaque.
 * Every entry point is safe to call from Deno.dlopen (plain C types, no callbacks).
 */
#ifndef HEAPSCOPE_H
#define HEAPSCOPE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_ABI_VERSION 4

typedef enum {
  HS_OK = 0,
  HS_ERR_NO_PROCESS = -1,   /* pid does not exist (ESRCH) */
  HS_ERR_PERMISSION = -2,   /* ptrace / task_for_pid refused (EPERM, EACCES, KERN_FAILURE) */
  HS_ERR_BUSY = -3,         /* already traced by another tracer */
  HS_ERR_EXITED = -4,       /* target exited while stopped */
  HS_ERR_IO = -5,           /* a read failed (page gone, region unmapped) */
  HS_ERR_ARG = -6,          /* bad argument (buffer too small, index out of range) */
  HS_ERR_STATE = -7,        /* call not valid in this state (e.g. read after resume) */
  HS_ERR_UNSUPPORTED = -8,  /* not available on this platform */
  HS_ERR_INTERNAL = -9,     /* anything else: see hs_last_error */
  HS_ERR_ZOMBIE = -10,      /* target is a zombie or a kernel thread */
} hs_status;

typedef struct hs_target hs_target;

/* Version of this ABI (HS_ABI_VERSION); the TypeScript loader refuses a mismatch. */
int32_t hs_abi_version(void);

/* Last error message of the calling thread (errno text plus context), never NULL. */
const char *hs_last_error(void);

/* Attach to `pid` and stop every thread. Linux: PTRACE_SEIZE + PTRACE_INTERRUPT on every entry of
 * /proc/PID/task, re-listing until no new thread appears. macOS: task_for_pid + task_suspend.
 * `timeout_ms` bounds waiting for threads to stop (0 = 5000). On error nothing is left stopped. */
int32_t hs_attach(int32_t pid, uint32_t timeout_ms, hs_target **out);

/* Number of stopped threads and their ids (Linux tids, macOS thread ports). */
int32_t hs_thread_count(hs_target *t, uint32_t *count);
int32_t hs_thread_ids(hs_target *t, int64_t *ids, uint32_t cap, uint32_t *count);

/* Raw register set of thread `index`, as the kernel lays it out:
 *   kind 0: general registers (Linux NT_PRSTATUS user_regs_struct; macOS *_THREAD_STATE64)
 *   kind 1: floating point / vector registers (Linux NT_PRFPREG; macOS *_NEON_STATE64 / FLOAT_STATE64)
 *   kind 2: thread pointer (8 bytes: fs_base / tpidr_el0 / TSD base)
 * Writes at most `cap` bytes into `buf` and the length into `*len`. */
int32_t hs_thread_regs(hs_target *t, uint32_t index, uint32_t kind, uint8_t *buf, uint32_t cap,
                       uint32_t *len);

/* Copy `n` ranges in one call. `ranges` holds n pairs (address, length); `dst` receives the bytes of
 * every range back to back (sum of lengths). Unreadable pages are zero-filled; `*missing` receives the
 * number of bytes that could not be read. Linux: process_vm_readv, per-page fallback, then
 * /proc/PID/mem. macOS: mach_vm_read_overwrite. */
int32_t hs_read_ranges(hs_target *t, const uint64_t *ranges, uint32_t n, uint8_t *dst,
                       uint64_t *missing);

/* Regions (macOS only; Linux reads /proc/PID/maps from TypeScript). Each record is 4 uint64:
 * start, end, protection bits (1 r, 2 w, 4 x), user_tag. */
int32_t hs_regions(hs_target *t, uint64_t *records, uint32_t cap, uint32_t *count);

/* Allocations enumerated by the allocator itself (macOS malloc zones; HS_ERR_UNSUPPORTED on
 * Linux). Records are 3 uint64: address, size, zone index. `zone_names` receives NUL-separated zone
 * names (zone index = position). Returns HS_ERR_ARG with *count set to the number needed when
 * `cap` is too small. */
int32_t hs_zone_allocations(hs_target *t, uint64_t *records, uint64_t cap, uint64_t *count,
                            char *zone_names, uint32_t names_cap);

/* Image list (macOS: dyld_all_image_infos; Linux: HS_ERR_UNSUPPORTED). Each record: load address
 * (uint64), then a NUL-terminated path, packed into `buf`. */
int32_t hs_images(hs_target *t, uint8_t *buf, uint32_t cap, uint32_t *len, uint32_t *count);

/* Let the threads `indices` (n of them) run while every other thread stays stopped, for about
 * `run_us` microseconds, then stop them again: PTRACE_CONT, then PTRACE_INTERRUPT. Used to let a
 * thread stopped inside malloc finish what it was doing. Nothing of this outlives heapscope: if it
 * dies at any instant the kernel detaches every thread and none carries a trap flag or a breakpoint
 * (single-stepping would leave TIF_SINGLESTEP set). Threads in a signal-delivery stop (their signal
 * is kept for the detach) or in a group stop (SIGSTOP) are left as they are. Threads that exit are
 * dropped and threads created meanwhile are stopped too, so thread indexes change: list them again.
 * `*ran` receives the number of threads resumed, `*added` the number of new threads stopped.
 * `timeout_ms` bounds waiting for the stops (0 = 1000). Linux only; HS_ERR_UNSUPPORTED elsewhere. */
int32_t hs_run_threads(hs_target *t, const uint32_t *indices, uint32_t n, uint32_t run_us,
                       uint32_t timeout_ms, uint32_t *ran, uint32_t *added);

/* The pages of process `pid` that exist, within `n` ranges (address, length pairs, page-aligned):
 * present in memory (but not the shared zero page) or swapped out. An absent page of private
 * anonymous memory reads as zeros, and reading it through the target would allocate it there.
 * From /proc/PID/pagemap (the PAGEMAP_SCAN ioctl where the kernel has it, else its entries).
 * Works on a running or a stopped process. Writes (start, length) pairs, merged, in address order,
 * into `out` (room for `cap` pairs) and their number into `*count`. `cursor` (2 uint64: range
 * index, address) says where to start; returns 0 when done, 1 when `out` is full (`cursor` then
 * says where to call again from). `*method` receives 1 when PAGEMAP_SCAN was used, 0 otherwise.
 * Linux only. */
int32_t hs_resident_ranges(int32_t pid, const uint64_t *ranges, uint32_t n, uint64_t *out,
                           uint32_t cap, uint32_t *count, uint64_t *cursor, uint32_t *method);

/* Destination memory for a capture's copy, owned by the shim: `len` bytes (rounded up to 2 MiB),
 * 2 MiB-aligned, with madvise(MADV_HUGEPAGE) when `huge` is 1 (the first copy into 4 KiB pages is
 * slow in some VMs even after they were touched). `*advised` receives 1 when the advice was taken.
 * Nothing is touched: hs_buffer_populate does that, in steps, before the target is stopped. */
int32_t hs_buffer_alloc(uint64_t len, uint32_t huge, uint64_t *ptr, uint64_t *mapped,
                        uint32_t *advised);

/* Fault in [ptr + from, ptr + to) of a buffer from hs_buffer_alloc, writable (MADV_POPULATE_WRITE,
 * else one store per page). `*huge_bytes` receives how many bytes of that range are backed by huge
 * pages (0 when the kernel cannot say). */
int32_t hs_buffer_populate(uint64_t ptr, uint64_t from, uint64_t to, uint64_t *huge_bytes);

/* Unmap a buffer from hs_buffer_alloc (`mapped` as it returned). */
int32_t hs_buffer_free(uint64_t ptr, uint64_t mapped);

/* Give back the whole pages inside [ptr, ptr + len) of a buffer from hs_buffer_alloc: the mapping
 * stays and those pages read as zeros afterwards (Linux MADV_DONTNEED; macOS maps fresh zero pages
 * over them). The analysis drops the heap's copy this way once it has read it, so that the arrays
 * made after it reuse that memory, warm, instead of faulting in more. */
int32_t hs_buffer_discard(uint64_t ptr, uint64_t len);

/* Whether the target is still alive and stopped (1), or exited (0). */
int32_t hs_alive(hs_target *t);

/* Resume every thread and detach. Idempotent. Safe after the target died. */
int32_t hs_resume(hs_target *t);

/* Resume (if needed) and free the handle. Idempotent per handle; NULL is a no-op. */
void hs_close(hs_target *t);

/* The conservative scan's word loop (shim/scan_kernel.c; analysis/scan.ts is the TypeScript twin).
 * No target involved: pure computation on caller buffers. `mem` holds the copied bytes of
 * [base, base + len), base 8-aligned. The index arrays are AllocationIndex's (analysis/
 * alloc_index.ts): block starts and sizes (a block ends at start + max(size, 1)), segment
 * starts/ends/table offsets, the 256-byte bucket table, min and max. Addresses travel as doubles
 * (exact below 2^53).
 *
 * hs_scan_blocks scans blocks [first, last) (addr/size per block id, all inside `mem`), writing
 * start[i] (first edge of block i) and edges target/word from index m0 on (at most cap). The edge
 * word (analysis/edge_words.ts): EDGE_WORD_INTERIOR when the word points inside its target rather
 * than at its start, and k mod 2^EDGE_WORD_SEGMENT_BITS shifted left by 2, k the word's index among
 * the block's 8-byte-aligned words. The first edge of a block in each later segment (k >> 14 > 0,
 * blocks over 128 KiB) also goes to seg_edge/seg_segment (edge index, k >> 14) from seg_m0 on (at
 * most seg_cap). Returns 0 when done, out = {last, edges, bytes scanned, segment entries}; 1 when a
 * list is full: out = {next block, next edge index, bytes scanned, segment entries, 1 (edges) or
 * 2 (segments)}; grow that list and call again from the next block. */
#define EDGE_WORD_INTERIOR 2
#define EDGE_WORD_SEGMENT_BITS 14
int32_t hs_scan_blocks(const uint8_t *mem, double base, double len, const double *addr,
                       const double *size, uint32_t first, uint32_t last, const double *starts,
                       const double *sizes, const double *seg_start, const double *seg_end,
                       const int32_t *seg_table, uint32_t segs, const int32_t *table, double min,
                       double max, uint32_t *target, uint16_t *word, uint32_t m0, uint32_t cap,
                       uint32_t *seg_edge, uint32_t *seg_segment, uint32_t seg_m0,
                       uint32_t seg_cap, uint32_t *start, double *out);
/* Every 8-byte word of [from, to) (from 8-aligned; `mem` holds the `len` copied bytes of
 * [base, base + len), and [from, to) must lie inside them, else HS_ERR_ARG) that points into a
 * block: up to `cap` hits (word address, block id). Returns 0 when done, 1 when `cap` was reached:
 * out = {address to call again from, hits written}. */
int32_t hs_scan_range(const uint8_t *mem, double base, double len, double from, double to,
                      const double *starts, const double *sizes, const double *seg_start,
                      const double *seg_end, const int32_t *seg_table, uint32_t segs,
                      const int32_t *table, double min, double max, double *hit_address,
                      uint32_t *hit_target, uint32_t cap, double *out);

/* analysis/classify.ts floodFill's breadth-first search (shim/graph_kernel.c): `via` prefilled by
 * the caller, the same order and retainers. */
int32_t hs_flood_fill(uint32_t n, const uint32_t *start, const uint32_t *target,
                      const uint8_t *flags, uint32_t skip, const uint32_t *seeds, uint32_t nseeds,
                      uint32_t resume, int32_t *via, uint32_t *queue);

/* analysis/edge_words.ts unpackOffsets (shim/graph_kernel.c): every edge's byte offset from its
 * word and the segment list. */
int32_t hs_unpack_offsets(uint32_t n, const uint32_t *start, const uint16_t *word,
                          const uint32_t *seg_edge, const uint32_t *seg_segment, uint32_t seg_n,
                          const double *addr, uint32_t *offset);

/* analysis/build_graph.ts nativeGraph's pass (shim/graph_kernel.c): the live, unskipped edges kept
 * in place, flagged weak from weak_from, the segment list renumbered; out = {edges, entries}. */
int32_t hs_graph_compact(uint32_t n, uint32_t *start, uint32_t *target, uint16_t *word,
                         uint32_t *seg_edge, uint32_t *seg_segment, uint32_t seg_n,
                         const double *addr, const double *scan_size, const uint32_t *weak_from,
                         const double *skip, uint32_t nskip, double *out);

/* AllocationIndex's loops (shim/scan_kernel.c; analysis/alloc_index.ts is the twin): the blocks'
 * segments (out = {count, first bad block or -1}), then each segment's 256-byte bucket table. */
int32_t hs_index_segments(const double *starts, const double *sizes, uint32_t n, double gap,
                          uint32_t *first, uint32_t cap, double *out);
int32_t hs_index_fill(const double *starts, const double *sizes, uint32_t n, const uint32_t *first,
                      uint32_t segs, const double *seg_start, const double *seg_end,
                      const int32_t *seg_table, double bucket, int32_t *table, uint32_t table_len);

/* The common steps of glibc's chunk walk (shim/scan_kernel.c; analysis/glibc/chunks.ts
 * walkSegment is the TypeScript twin and takes every step this one leaves): from the header at p
 * in one span of 32-bit words, appends in-use chunks to address/usable from n0 (at most cap);
 * out = {p where it stopped, n}. */
int32_t hs_walk_chunks(const uint32_t *words, double span_start, double span_end, double p,
                       double end, double top, double *address, double *usable, uint32_t n0,
                       uint32_t cap, double *out);

/* The recognisers' memory-bound loops in one pass (shim/recognise_kernel.c; analysis/analyze.ts
 * slackWords, analysis/containers.ts collectCandidates and analysis/block_types.ts are the
 * TypeScript twins, identical output). The copied memory comes as nc chunks sorted by start:
 * bytes at cptr[i], address cstart[i], length clen[i]. Blocks: addr, size, zone (n); regions
 * rs/re (nr) for slackWords, images' file mappings ss/se (nspans) for vtables; max_size at least
 * every size. References: the scan's CSR block edges (estart of n + 1, target, word, and the
 * segment list seg_edge/seg_segment of seg_n entries: hs_scan_blocks'),
 * then its root hits (hit_addr, hit_target; nh). Writes out_slack[i] (32 bits: UINT32_MAX at
 * most) for every block, and up to cap of each list: container candidates (c_*), vtable
 * candidates, red-black nodes, hashtable references. state = {item, edge, begun} to resume from
 * (zeros at first); returns 0 when done, 1 when a list is full (take the lists and call again),
 * with state[3..6] = the lists' lengths.
 * The arrays' addresses come packed in p (np of them), the numbers in d (nd), in the order of
 * recognise() in shim/recognise_kernel.c (ffi/recognise_kernel.ts packs them). */
int32_t hs_recognise(const uint64_t *p, uint32_t np, const double *d, uint32_t nd, double *state);

/* A child whose standard output is read later, synchronously (shim/spawn.c): hs_spawn_reader
 * starts `file` (searched in PATH) with `args` (NUL-terminated strings back to back, argv[0]
 * first), stdin and stderr on /dev/null, stdout on a pipe: *fd_out reads it. hs_read_fd reads
 * until end of file (0) or until `cap` bytes (1: call again), *got bytes. hs_reap closes the pipe
 * and waits for the child: *status its exit status, 128 + signal when killed. */
int32_t hs_spawn_reader(const char *file, const char *args, uint64_t args_len, int32_t *pid_out,
                        int32_t *fd_out);
int32_t hs_read_fd(int32_t fd, uint8_t *buf, uint64_t cap, double *got);
int32_t hs_reap(int32_t pid, int32_t fd, int32_t *status);

/* The analysis's arena (Linux, shim/arena_linux.c): `reserve` bytes of address space on
 * transparent huge pages, handed out by a bump pointer (4 KiB-aligned, zeroed), with a helper
 * thread that faults pages in ahead of it: at least `window` bytes past the last allocation, and up
 * to `len` past it after hs_arena_prepare. hs_arena_alloc returns HS_ERR_ARG when the reservation
 * is used up (map the array elsewhere); hs_arena_release gives an array's whole pages back (they
 * are not handed out again); hs_arena_populate asks the helper to fault in [ptr, ptr + len) of a
 * mapping of the caller's before anything else (a hint: dropped when 16 are queued; the range
 * must stay mapped); hs_arena_stats: out = {bytes handed out, populated up to, bytes the
 * helper populated, reserved, populate target}. */
int32_t hs_arena_open(uint64_t reserve, uint64_t window, uint64_t *handle);
int32_t hs_arena_alloc(uint64_t handle, uint64_t len, uint64_t *ptr);
int32_t hs_arena_prepare(uint64_t handle, uint64_t len);
int32_t hs_arena_release(uint64_t handle, uint64_t ptr, uint64_t len);
int32_t hs_arena_populate(uint64_t handle, uint64_t ptr, uint64_t len);
int32_t hs_arena_stats(uint64_t handle, double *out);

/* The dominator tree of a CSR graph under a virtual root above `roots` (shim/graph_kernel.c;
 * analysis/dominators.ts is the TypeScript twin, same steps, identical output). Every array is
 * the caller's: pre, idom, retained of n; vertex, parent, stack_node, stack_edge, semi, label,
 * ancestor, by_pre of n + 1; pred_start of n + 2; pred of pred_cap (edges of reachable nodes plus
 * roots). Returns 0 with out = {reachable count + 1, reachable size}; 1 when an edge goes past
 * n - 1 (out = {edge, target}); HS_ERR_ARG for a NULL array, a root past n - 1 or pred_cap too
 * small. */
int32_t hs_dominators(uint32_t n, const uint32_t *start, const uint32_t *target, uint32_t nroots,
                      const uint32_t *roots, const double *sizes, int32_t *pre, uint32_t *vertex,
                      int32_t *parent, uint32_t *stack_node, uint32_t *stack_edge,
                      uint32_t *pred_start, uint32_t *pred, uint32_t pred_cap, int32_t *semi,
                      int32_t *label, int32_t *ancestor, int32_t *idom, double *retained,
                      double *by_pre, double *out);

#ifdef __cplusplus
}
#endif
#endif
