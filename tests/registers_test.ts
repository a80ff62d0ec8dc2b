// Which registers are roots: a thread stopped in a system call keeps only its callee-saved ones;
// a thread in user code keeps its general registers (vector registers are weak evidence).

import assert from "node:assert/strict";
import type { LeaksFile } from "../report/schema.ts";
import { until } from "./procs.ts";
import { requireBuilt, ROOT, spawnProcess } from "./truth.ts";

const VICTIM = `${ROOT}/build/victim/registers`;

Deno.test({
  name:
    "registers: at a syscall only callee-saved ones hold blocks; in user code vector ones are weak",
  ignore: Deno.build.arch !== "x86_64",
  async fn() {
    requireBuilt(VICTIM, "victim");
    const proc = spawnProcess([VICTIM]);
    try {
      const lines = await proc.waitForLine((l) => l === "READY", 10_000);
      const info = JSON.parse(lines.find((l) => l.startsWith("{"))!);
      // The event the test waits for: the syscall thread is in read(2) (number 0), the other runs.
      await until(
        () =>
          Deno.readTextFileSync(`/proc/${proc.pid}/task/${info.syscallTid}/syscall`)
            .startsWith("0 "),
        10_000,
        "the syscall thread to block in read(2)",
      );
      const json = `${await Deno.makeTempDir({ prefix: "heapscope-regs-" })}/leaks.json`;
      const r = await new Deno.Command(`${ROOT}/heapscope`, {
        args: [String(proc.pid), "-o", json, "--quiet", "--graph", "all"],
      }).output();
      assert.ok(r.code === 0 || r.code === 1, new TextDecoder().decode(r.stderr));
      const f: LeaksFile = JSON.parse(await Deno.readTextFile(json));
      const status = (k: string) => f.nodes.find((n) => n.address === info[k])!.status;
      const root = (k: string) =>
        f.roots.find((x) => x.target === f.nodes.find((n) => n.address === info[k])!.id);
      assert.equal(status("syscall-r12"), "reachable", "callee-saved r12 at a syscall");
      assert.equal(root("syscall-r12")?.name, `r12 of thread ${info.syscallTid}`);
      assert.equal(status("syscall-r8"), "leaked", "caller-saved r8 is dead across read(2)");
      assert.equal(status("syscall-xmm"), "leaked", "vector registers are dead across read(2)");
      assert.equal(status("user-r13"), "reachable", "a general register in user code");
      assert.equal(status("user-xmm"), "possible", "a vector register in user code: weak");
      assert.equal(root("user-xmm")?.weak, true);
    } finally {
      await proc.stop();
    }
  },
});
