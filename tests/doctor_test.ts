// End to end: `heapscope doctor [pid]` and the refusals it predicts, on real processes.
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startVictim } from "./expect.ts";
import { ROOT, spawnProcess } from "./truth.ts";

async function run(args: string[], user?: number) {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-doctor-" });
  await Deno.chmod(dir, 0o777);
  const cmd = [
    ...(user === undefined
      ? []
      : ["setpriv", `--reuid=${user}`, `--regid=${user}`, "--clear-groups"]),
    `${ROOT}/heapscope`,
    ...args,
  ];
  const r = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    env: user === undefined ? {} : { DENO_DIR: `${dir}/deno` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("heapscope doctor <pid> passes every check for an attachable process", async () => {
  const { proc } = await startVictim();
  try {
    const r = await run(["doctor", String(proc.pid)]);
    assertEquals(r.code, 0, r.out + r.err);
    for (const name of ["privileges", "yama", "container", "shim", "process", "tracer"]) {
      assert(new RegExp(`^✓ ${name}`, "m").test(r.out), `${name}: ${r.out}`);
    }
    assert(/^✓ allocator\s+glibc malloc/m.test(r.out), r.out);
    assert(r.out.trimEnd().endsWith("✓ ready to attach"), r.out);
  } finally {
    await proc.stop();
  }
});

Deno.test("heapscope doctor names an existing tracer and the refusal agrees", async () => {
  // strace -f keeps tracing `sleep` while the check runs.
  const traced = spawnProcess(["sh", "-c", "sleep 30 & echo $!; wait"], { stderr: "null" });
  const pidLine = await traced.readLine(5000);
  const pid = Number(pidLine);
  const strace = spawnProcess(["strace", "-p", String(pid), "-o", "/dev/null"], { stderr: "null" });
  try {
    for (let i = 0; i < 50; i++) {
      const s = await Deno.readTextFile(`/proc/${pid}/status`);
      if (!/^TracerPid:\s+0$/m.test(s)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await run(["doctor", String(pid)]);
    assertEquals(r.code, 3, r.out);
    assert(/^✗ tracer\s+process \d+ is already traced by \d+ \(strace\)/m.test(r.out), r.out);
    assert(/fix: detach strace first/.test(r.out), r.out);
    const attach = await run([String(pid), "--output", "/dev/null"]);
    assertEquals(attach.code, 3, attach.err);
    assert(/already traced by process \d+ \(strace\)/.test(attach.err), attach.err);
  } finally {
    await strace.stop();
    await traced.stop();
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
});

Deno.test("heapscope doctor explains missing privileges, kernel threads and missing processes", async () => {
  const nobody = await run(["doctor"], 65534);
  assertEquals(nobody.code, 3, nobody.out + nobody.err);
  assert(
    /^✗ privileges\s+running as uid 65534 without CAP_SYS_PTRACE/m.test(nobody.out),
    nobody.out,
  );
  assert(/fix: run `sudo/.test(nobody.out), nobody.out);

  const kthread = await run(["doctor", "2"]);
  assertEquals(kthread.code, 3);
  assert(/^✗ process\s+process 2 \(kthreadd\) is a kernel thread/m.test(kthread.out), kthread.out);

  const gone = await run(["doctor", "4194303"]);
  assertEquals(gone.code, 3);
  assert(/^✗ process\s+process 4194303 does not exist/m.test(gone.out), gone.out);

  const init = await run(["1", "--output", "/dev/null"]);
  assertEquals(init.code, 3);
  assert(/Refusing to stop process 1/.test(init.err), init.err);
});
