// End to end: `./heapscope <pid>` on heap shapes that once gave false leaks or hid blocks (issue 11).
//
// Each victim (victim/glibc/, `make victim-glibc`) runs under the LD_PRELOAD interposer; heapscope's
// allocations must equal the interposer's live set exactly, and its leaks exactly the victim's.

import { ok as assert } from "node:assert/strict";
import { checkExpect, compareWithTruth, startVictim } from "./victims.ts";

Deno.test("threads whose tcache struct is a whole 0x2a0 chunk: exact live set, no false leak", async () => {
  const { proc, expect } = await startVictim("tcache_whole", ["--threads", "4"]);
  try {
    const run = await checkExpect(proc.pid, expect);
    // Every thread's struct was found (one per thread plus the main thread's), whatever its size.
    assert(!/warning:.*tcache/.test(run.stdout + run.stderr), run.stdout + run.stderr);
    const { count: n } = await compareWithTruth(proc);
    assert(n >= 4 * 3 + 4, `only ${n} live blocks`);
  } finally {
    await proc.stop();
  }
});

Deno.test("a thread's first malloc an exact small-bin fit (2.43 makes its tcache then)", async () => {
  const { proc, expect } = await startVictim("tcache_whole", ["--threads", "4", "--exact-first"]);
  try {
    await checkExpect(proc.pid, expect);
    await compareWithTruth(proc);
  } finally {
    await proc.stop();
  }
});

Deno.test("MALLOC_MMAP_THRESHOLD_=0: tcache structs in mmapped chunks are not allocations", async () => {
  const { proc, expect } = await startVictim("tcache_whole", ["--threads", "2"], {
    env: { MALLOC_MMAP_THRESHOLD_: "0" },
  });
  try {
    await checkExpect(proc.pid, expect);
    await compareWithTruth(proc);
  } finally {
    await proc.stop();
  }
});

Deno.test("a thread exiting inside tcache_thread_shutdown: its cached blocks are free", async () => {
  const { proc, expect } = await startVictim("tcache_exit");
  try {
    const run = await checkExpect(proc.pid, expect);
    assert(
      /is exiting and freeing its tcache struct 0x[0-9a-f]+: its 9 cached blocks are free/
        .test(run.stdout + run.stderr),
      run.stdout + run.stderr,
    );
    await compareWithTruth(proc);
  } finally {
    await proc.stop();
  }
});

for (const prot of ["none", "read"]) {
  Deno.test(`[heap] split in three by a PROT_${prot.toUpperCase()} page: every block found`, async () => {
    const { proc, expect } = await startVictim("heap_pieces", ["--protect", prot]);
    try {
      const maps = await Deno.readTextFile(`/proc/${proc.pid}/maps`);
      assert((maps.match(/\[heap\]/g) ?? []).length === 3, maps);
      await checkExpect(proc.pid, expect);
      await compareWithTruth(proc);
    } finally {
      await proc.stop();
    }
  });
}

Deno.test("a non-contiguous main arena (brk blocked, then free again): every segment walked", async () => {
  const { proc, expect } = await startVictim("heap_pieces", ["--blocked-brk"]);
  try {
    const run = await checkExpect(proc.pid, expect);
    const said = run.stdout + run.stderr;
    assert(/main arena is non-contiguous: also walking/.test(said), said);
    const { count: n } = await compareWithTruth(proc);
    assert(n >= 2700, `only ${n} live blocks`);
  } finally {
    await proc.stop();
  }
});

Deno.test("a foreign sbrk inside [heap]: its bytes are roots, malloc's chunks after it are walked", async () => {
  const { proc, expect } = await startVictim("heap_pieces", ["--foreign-sbrk"]);
  try {
    const run = await checkExpect(proc.pid, expect);
    const said = run.stdout + run.stderr;
    assert(/is not malloc's \(memory the program took with sbrk\)/.test(said), said);
    await compareWithTruth(proc);
  } finally {
    await proc.stop();
  }
});

Deno.test("all three heap shapes in one process", async () => {
  const { proc, expect } = await startVictim("heap_pieces");
  try {
    await checkExpect(proc.pid, expect);
    await compareWithTruth(proc);
  } finally {
    await proc.stop();
  }
});
