// `heapscope diff` end to end: a recorded program grows its cache and leaks between two captures;
// the diff names the cache's allocation site and its retainer (the global g_cache) as the top
// growers and exactly the blocks leaked in between as new leaks. A third capture after more growth
// applies the three-snapshot technique.

import { equal, ok } from "node:assert/strict";
import { spawnProcess } from "./truth.ts";
import { built, heapscope, RECORDER, said, tempDir } from "./cli_runs.ts";
import { ROOT } from "./truth.ts";
import type { LeaksDiff } from "../report/leaks_diff.ts";

const GROW = `${ROOT}/build/victim/grow`;

Deno.test("heapscope diff names the growing cache's site and retainer and the new leaks", async () => {
  built(GROW, "victim");
  built(RECORDER, "recorder");
  const dir = await tempDir("heapscope-diff-");
  const proc = spawnProcess([GROW], { env: { LD_PRELOAD: RECORDER } });
  try {
    await proc.waitForLine((l) => l === "READY");
    await Deno.writeTextFile(`${dir}/known.supp`, "leak:leak_some\n");
    const capture = async (name: string, ...extra: string[]) => {
      const r = await heapscope([
        String(proc.pid),
        "-o",
        `${dir}/${name}`,
        "--graph",
        "all",
        "-q",
        ...extra,
      ]);
      ok(r.code === 0 || r.code === 1, said(r));
    };
    const command = async (line: string, reply: string) => {
      await proc.writeStdin(line + "\n");
      await proc.waitForLine((l) => l.startsWith(reply));
    };
    await capture("a.json");
    await command("grow 400", "GREW");
    await command("leak 20", "LEAKED");
    await capture("b.json");
    await capture("b-known.json", "--suppressions", `${dir}/known.supp`);
    await command("grow 100", "GREW");
    await capture("c.json");

    const r = await heapscope(["diff", `${dir}/a.json`, `${dir}/b.json`, "-o", `${dir}/d.json`]);
    equal(r.code, 1, said(r)); // new leaks
    const d = JSON.parse(await Deno.readTextFile(`${dir}/d.json`)) as LeaksDiff;
    equal(d.format, "heapscope-diff");
    equal(d.newLeaks.count, 20, said(r));
    equal(d.newLeaks.bytes, 20 * 72, "a 72-byte request gets an 80-byte chunk: 72 usable");
    ok(d.newLeaks.direct.every((l) => /leak_some/.test(l.site ?? "")), said(r));
    equal(d.goneLeaks.count, 0);
    const topSite = d.bySite![0]!;
    ok(/cache_insert/.test(topSite.label), `top site: ${topSite.label}\n${r.stdout}`);
    equal(topSite.count, 400);
    ok(d.byRetainer, "the files have retainers");
    ok(/g_cache/.test(d.byRetainer![0]!.label), `top retainer: ${d.byRetainer![0]!.label}`);
    ok(d.byRetainer![0]!.bytes >= 400 * (48 + 264), "the cache retains every new entry");
    ok(/growth by allocation site/.test(r.stdout) && /cache_insert/.test(r.stdout), r.stdout);

    // Leaks a --suppressions rule names are known, not new: counted apart, exit status 0.
    const known = await heapscope(
      ["diff", `${dir}/a.json`, `${dir}/b-known.json`, "-o", `${dir}/dk.json`],
    );
    equal(known.code, 0, said(known));
    const dk = JSON.parse(await Deno.readTextFile(`${dir}/dk.json`)) as LeaksDiff;
    equal(dk.newLeaks.count, 0, said(known));
    equal(dk.newLeaks.suppressed.count, 20, said(known));
    equal(dk.totals.after.suppressed, 20);
    ok(
      /new leaks +0 blocks, 0 B \(0 direct\); 20 more \(1\.4 KiB\) suppressed/.test(known.stdout),
      known.stdout,
    );

    const three = await heapscope(
      ["diff", `${dir}/a.json`, `${dir}/b.json`, `${dir}/c.json`, "-o", `${dir}/d3.json`],
    );
    const d3 = JSON.parse(await Deno.readTextFile(`${dir}/d3.json`)) as LeaksDiff;
    const s = d3.survivors!;
    // Between 1 and 2: 400 entries and their values, 20 leaks (and the entries array, realloc'd).
    ok(s.count >= 820 && s.count <= 823, `survivors ${s.count}\n${three.stdout}`);
    ok(/cache_insert/.test(s.bySite[0]!.label), three.stdout);
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
