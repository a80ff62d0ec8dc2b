// Real-process test: a C program's own malloc record must equal enumerateGlibc() on its gcore dump.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { enumerateGlibc } from "./mod.ts";
import { coreSnapshot, parseCore, parseMaps } from "./testdata/core_snapshot.ts";
import type { MemoryChunk, Snapshot } from "../types.ts";
import { MemoryImage } from "../memory.ts";
import { tcacheTlsOffset } from "./tls_slot.ts";

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} did not stop`);
}

/** Reads a stopped child's expected live set, dumps it with gcore and builds a Snapshot. */
async function captureChild(dir: string, exe: string) {
  const child = new Deno.Command(exe, { stdout: "piped", stderr: "inherit" }).spawn();
  try {
    let text = "";
    const reader = child.stdout.getReader();
    while (!text.includes("END\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`victim exited early: ${text}`);
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    await waitStopped(child.pid);
    const maps = await Deno.readTextFile(`/proc/${child.pid}/maps`);
    await run("gdb", ["-nx", "-batch", "-p", String(child.pid), "-ex", `gcore ${dir}/core`]);
    await waitStopped(child.pid); // gdb leaves it stopped
    const live = [...text.matchAll(/^LIVE (0x[0-9a-f]+) (\d+) (\d+)$/gm)].map((m) => ({
      address: parseInt(m[1]!, 16),
      requested: Number(m[2]),
      usable: Number(m[3]),
    }));
    const regions = parseMaps(maps);
    const core = parseCore(await Deno.readFile(`${dir}/core`));
    // gcore skips unmodified file mappings: add libc's read-only ones (the version banner) from disk.
    const extra: MemoryChunk[] = [];
    for (const r of regions) {
      if (!/\/libc\.so\.6$/.test(r.path) || r.perms !== "r--p") continue;
      const f = await Deno.open(r.path);
      const bytes = new Uint8Array(r.end - r.start);
      await f.seek(r.offset, Deno.SeekMode.Start);
      let n = 0;
      while (n < bytes.length) {
        const k = await f.read(bytes.subarray(n));
        if (k === null) break;
        n += k;
      }
      f.close();
      extra.push({ start: r.start, bytes });
    }
    const snapshot = coreSnapshot(core, { pid: child.pid, regions, extra });
    return { live, snapshot };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
}

/** main_arena and mp_ from libc6-dbg's debug file, as the ffi capture would attach them. */
async function libcSymbols(snapshot: Snapshot): Promise<Record<string, number> | undefined> {
  const libc = snapshot.images.find((i) => /\/libc\.so\.6$/.test(i.path));
  if (libc === undefined) return undefined;
  const notes = await run("readelf", ["-n", libc.path]);
  const id = notes.match(/Build ID: ([0-9a-f]+)/)?.[1];
  if (id === undefined) return undefined;
  const debug = `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
  const nm = await run("nm", [debug]).catch(() => "");
  const get = (name: string) => {
    const m = nm.match(new RegExp(`^([0-9a-f]+) \\w ${name}$`, "m"));
    return m ? libc.bias + parseInt(m[1]!, 16) : undefined;
  };
  const main = get("main_arena"), mp = get("mp_");
  const desc = get("_thread_db_link_map_l_tls_offset");
  const tcache = nm.match(/^([0-9a-f]+) \w tcache$/m)?.[1]; // STT_TLS: raw st_value
  if (main === undefined || mp === undefined || desc === undefined || tcache === undefined) {
    return undefined;
  }
  return {
    main_arena: main,
    mp_: mp,
    _thread_db_link_map_l_tls_offset: desc,
    "tls:tcache": parseInt(tcache, 16),
  };
}

/** _r_debug from ld.so's dynamic symbols. */
async function rDebug(snapshot: Snapshot): Promise<number | undefined> {
  const ld = snapshot.images.find((i) => /\/ld-linux-x86-64\.so\.2$/.test(i.path));
  if (ld === undefined) return undefined;
  const m = (await run("nm", ["-D", ld.path])).match(/^([0-9a-f]+) \w _r_debug(@@\S+)?$/m);
  return m ? ld.bias + parseInt(m[1]!, 16) : undefined;
}

Deno.test("enumerateGlibc() equals the victim's own malloc record (gcore snapshot)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-glibc-" });
  try {
    const exe = `${dir}/heap_pattern`;
    const src = new URL("./testdata/heap_pattern.c", import.meta.url).pathname;
    await run("gcc", ["-O0", "-g", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe, src]);
    const { live, snapshot } = await captureChild(dir, exe);
    assert(live.length >= 20, `victim reported only ${live.length} live allocations`);
    const expected = live.map((l) => ({ address: l.address, size: l.usable }))
      .sort((a, b) => a.address - b.address);

    for (const withSymbols of [false, true]) {
      let snap = snapshot;
      let symbolSlot: number | undefined;
      if (withSymbols) {
        const symbols = await libcSymbols(snapshot);
        if (symbols === undefined) {
          throw new Error(
            "libc's debug symbols are missing: the symbol route cannot be tested\n" +
              "Hint: apt-get install -y libc6-dbg (as .ci/run does)",
          );
        }
        const rd = await rDebug(snapshot);
        snap = {
          ...snapshot,
          images: snapshot.images.map((i) =>
            /\/libc\.so\.6$/.test(i.path)
              ? { ...i, symbols }
              : rd !== undefined && /\/ld-linux/.test(i.path)
              ? { ...i, symbols: { _r_debug: rd } }
              : i
          ),
        };
        // The symbol route to the tcache TLS slot (tp − l_tls_offset + st_value; −0x48 for this
        // TLS-less executable) must name each thread's struct, checked below.
        const libc = snap.images.find((i) => /\/libc\.so\.6$/.test(i.path));
        symbolSlot = tcacheTlsOffset(new MemoryImage(snap.memory), snap.images, libc);
        assert(symbolSlot !== undefined && symbolSlot < 0 && symbolSlot > -0x1000, `${symbolSlot}`);
      }
      const heap = enumerateGlibc(snap);
      assertEquals(heap.allocator, "glibc 2.36 malloc");
      assertEquals(
        heap.allocations.toArray().map((a) => ({ address: a.address, size: a.size })),
        expected,
      );
      for (const l of live) assert(l.usable >= l.requested);
      // Zones: the three mmapped blocks, the worker's thread arena, the rest in the main arena.
      const zones = new Map(heap.allocations.toArray().map((a) => [a.address, a.zone]));
      const big = live.filter((l) => l.requested >= 300000).map((l) => zones.get(l.address));
      assertEquals(big, ["mmap", "mmap"]);
      assert(heap.allocations.toArray().some((a) => a.zone.startsWith("arena 0x")));
      // One tcache struct per thread that malloc'd and is alive (main + worker) is excluded.
      const structs = heap.excluded.filter((e) => e.why.startsWith("tcache of thread"));
      assertEquals(structs.length, 2);
      if (symbolSlot !== undefined) {
        const mem = new MemoryImage(snap.memory);
        for (const e of structs) {
          const t = snap.threads.find((t) => e.why === `tcache of thread ${t.tid}`)!;
          assertEquals(mem.u64(t.tp + symbolSlot), e.start + 16);
        }
      }
      assert(heap.excluded.some((e) => e.why === "glibc main_arena"));
      assert(heap.excluded.some((e) => e.why.startsWith("glibc mp_")));
      // No fallback other than the signature search (without symbols), no cross-check mismatch.
      assertEquals(
        heap.warnings.filter((w) => !w.startsWith("main_arena found by bin signature")),
        [],
      );
      assertEquals(heap.warnings.length, withSymbols ? 0 : 1);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
