// The "How this was computed" section: phases and platform calls, timings, warnings, limits.

import type { LeaksFile } from "../schema.ts";
import type { MethodPayload } from "./payload.ts";

/** "How this was computed": phases and calls for the platform, timings, warnings, limits. */
export function selectMethod(leaks: LeaksFile): MethodPayload {
  const darwin = leaks.target.platform === "darwin";
  const steps = [
    {
      name: "Attach and stop",
      detail: darwin
        ? "Suspend the task so that no thread allocates while memory is copied."
        : "Seize every thread of the process and interrupt it so that nothing allocates while memory is copied.",
    },
    {
      name: "Copy",
      detail:
        "Copy the memory map, every thread's registers and stack, writable image segments and the heap, then resume the target. Everything below runs on the copy.",
    },
    {
      name: "Enumerate allocations",
      detail: darwin
        ? "Walk every malloc zone with its introspection enumerator (in-use ranges only)."
        : "Walk glibc arenas chunk by chunk and mmapped chunks; chunks sitting in tcache, fastbins and bins are free and skipped.",
    },
    {
      name: "Collect roots",
      detail:
        "Writable data of every loaded image, each thread's stack from its stack pointer up, thread-local storage, every general register, other writable non-heap memory. Allocator bookkeeping is never a root.",
    },
    {
      name: "Conservative scan",
      detail:
        "Every aligned word of a root or a block that points at or into an allocation counts as a reference (interior pointers included).",
    },
    {
      name: "Flood fill",
      detail:
        "Mark everything reachable from the roots; the rest is leaked. A leaked block that no other leaked block points to is a direct leak, the others are indirect.",
    },
    {
      name: "Tarjan SCC",
      detail:
        "Strongly connected components of the leaked subgraph (iterative Tarjan): components of two or more blocks are leaked cycles.",
    },
  ];
  const calls = darwin
    ? [
      { name: "task_for_pid", purpose: "get the target task port (root or debugger entitlement)" },
      { name: "task_suspend / task_resume", purpose: "stop and restart every thread" },
      { name: "malloc_get_all_zones", purpose: "find the malloc zones of the target" },
      { name: "zone enumerator (MALLOC_PTR_IN_USE_RANGE_TYPE)", purpose: "list in-use blocks" },
      { name: "mach_vm_read_overwrite", purpose: "copy memory" },
      { name: "task_threads / thread_get_state", purpose: "registers and stack pointers" },
    ]
    : [
      { name: "ptrace(PTRACE_SEIZE)", purpose: "attach to every thread in /proc/PID/task" },
      { name: "ptrace(PTRACE_INTERRUPT)", purpose: "stop each thread" },
      { name: "ptrace(PTRACE_GETREGSET)", purpose: "read general registers" },
      { name: "process_vm_readv", purpose: "copy memory (fallback /proc/PID/mem)" },
      { name: "/proc/PID/maps", purpose: "regions, permissions and mapped files" },
    ];
  const timings = Object.entries(leaks.phases ?? {}).map(([phase, ms]) => ({ phase, ms }));
  return {
    platform: darwin ? "macOS" : "Linux",
    steps,
    calls,
    timings,
    totalMs: timings.reduce((sum, t) => sum + t.ms, 0),
    warnings: leaks.warnings ?? [],
    limits: [
      "Conservative scanning cannot tell a pointer from an integer: a value that happens to look like an address keeps a block alive, so a real leak can be missed.",
      "A stale pointer left in memory (a freed struct, an unused stack slot) also keeps its target alive and hides a leak.",
      "Pointers that are encoded (XOR-ed, tagged, compressed, stored as offsets) are not seen: their targets show as leaked.",
      "The snapshot is one instant: a block between being allocated and being stored can look leaked.",
    ],
  };
}
