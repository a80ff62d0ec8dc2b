// Core files end to end: `heapscope analyze core` gives the same leaks.json as attaching to the
// process the core came from (apart from time fields), for a core from gcore (the executable
// renamed away after the capture and given with --exe: its symbols name the roots) and for a core the kernel wrote when the process was killed by
// SIGABRT (core_pattern set to a temporary folder, then restored); a core without the heap
// (coredump_filter 0) is refused with the coredump_filter advice.

import { equal, ok } from "node:assert/strict";
import { startVictim, VICTIM } from "./expect.ts";
import { spawnProcess } from "./truth.ts";
import { firstDifference, heapscope, said, tempDir, withoutTimes } from "./cli_runs.ts";

const CORE_PATTERN = "/proc/sys/kernel/core_pattern";

async function live(pid: number, dir: string): Promise<string> {
  const r = await heapscope([String(pid), "-o", `${dir}/live.json`, "--no-color"]);
  equal(r.code, 1, said(r));
  return await Deno.readTextFile(`${dir}/live.json`);
}

async function analyzeCore(core: string, dir: string, extra: string[] = []): Promise<string> {
  const r = await heapscope(["analyze", core, "-o", `${dir}/core.json`, "--no-color", ...extra]);
  equal(r.code, 1, said(r));
  return await Deno.readTextFile(`${dir}/core.json`);
}

Deno.test("analyze of a gcore core gives the leaks.json of the live process", async () => {
  const dir = await tempDir("heapscope-core-");
  await Deno.copyFile(VICTIM, `${dir}/leaky`);
  const proc = spawnProcess([`${dir}/leaky`]);
  try {
    await proc.waitForLine((l) => l === "READY");
    const before = await live(proc.pid, dir);
    const g = await new Deno.Command("gcore", {
      args: ["-o", `${dir}/core`, String(proc.pid)],
      stdout: "null",
      stderr: "piped",
    }).output();
    ok(g.success, `gcore failed: ${new TextDecoder().decode(g.stderr)}`);
    await proc.stop();
    // The executable is no longer where the core says (as on another machine): --exe.
    await Deno.rename(`${dir}/leaky`, `${dir}/leaky-copy`);
    const after = await analyzeCore(`${dir}/core.${proc.pid}`, dir, ["--exe", `${dir}/leaky-copy`]);
    equal(firstDifference(withoutTimes(before), withoutTimes(after)), "");
    const names = (JSON.parse(after).roots as { name?: string }[]).map((r) => r.name).join("\n");
    ok(/g_\w+ in /.test(names), "the roots are named by the symbols of the --exe file");
    // why reads the core too: a reachable block's path starts at a named global, as leaks.json says.
    const file = JSON.parse(after) as { nodes: { address: string; status: string; id: number }[] };
    const root = (JSON.parse(after).roots as { target: number; name?: string }[])
      .find((r) => /^g_\w+ in /.test(r.name ?? ""))!;
    const target = file.nodes.find((n) => n.id === root.target)!;
    const why = await heapscope([
      "why",
      `${dir}/core.${proc.pid}`,
      target.address,
      "--exe",
      `${dir}/leaky-copy`,
    ]);
    equal(why.code, 0, said(why));
    ok(
      why.stdout.includes(`shortest path from a root:\n  ${root.name!.split(" in ")[0]}`),
      said(why),
    );
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze of the kernel's core of a crashed process gives its live leaks.json", async () => {
  const dir = await tempDir("heapscope-core-");
  const saved = await Deno.readTextFile(CORE_PATTERN);
  const proc = spawnProcess(["sh", "-c", `ulimit -c unlimited && exec ${VICTIM}`]);
  try {
    await proc.waitForLine((l) => l === "READY");
    const before = await live(proc.pid, dir);
    await Deno.writeTextFile(CORE_PATTERN, `${dir}/core.%p`);
    Deno.kill(proc.pid, "SIGABRT");
    const status = await proc.wait();
    equal(status.signal, "SIGABRT");
    await Deno.writeTextFile(CORE_PATTERN, saved);
    const r = await heapscope(["analyze", `${dir}/core.${proc.pid}`, "-o", `${dir}/core.json`]);
    equal(r.code, 1, said(r));
    ok(/ended by signal 6/.test(r.stderr), said(r));
    const after = await Deno.readTextFile(`${dir}/core.json`);
    equal(firstDifference(withoutTimes(before), withoutTimes(after)), "");
  } finally {
    await Deno.writeTextFile(CORE_PATTERN, saved);
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze of a core without the heap gives the coredump_filter advice", async () => {
  const dir = await tempDir("heapscope-core-");
  const { proc } = await startVictim();
  try {
    // Bit 0 off: no anonymous private memory in the core, as a misconfigured service would have.
    await Deno.writeTextFile(`/proc/${proc.pid}/coredump_filter`, "0x10");
    const g = await new Deno.Command("gcore", {
      args: ["-o", `${dir}/core`, String(proc.pid)],
      stdout: "null",
      stderr: "null",
    }).output();
    ok(g.success, "gcore failed");
    const r = await heapscope(["analyze", `${dir}/core.${proc.pid}`, "-o", `${dir}/core.json`]);
    equal(r.code, 3, said(r));
    ok(/lacks the heap/.test(r.stderr) && /coredump_filter/.test(r.stderr), said(r));
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
