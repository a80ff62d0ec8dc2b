// End to end: `heapscope doctor [pid]` and the refusals it predicts, on real processes.
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startVictim } from "./expect.ts";
import { ROOT, spawnProcess } from "./truth.ts";
import { assertRunning, kill, spawnDetached, until } from "./procs.ts";
import { readStatus } from "../ffi/procfs.ts";

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
});

Deno.test("heapscope doctor 1 on the host fails like the attach: the host's init is refused", async () => {
  const r = await run(["doctor", "1"]);
  assertEquals(r.code, 3, r.out);
  assert(/^✗ process\s+process 1 \(.*\) is the host's init/m.test(r.out), r.out);
  const attach = await run(["1", "--output", "/dev/null"]);
  assertEquals(attach.code, 3, attach.err);
  assert(/Refusing to stop process 1 \(init\)/.test(attach.err), attach.err);
});

Deno.test("inside a PID namespace (unshare -p -f --mount-proc) its PID 1 is analysed, and doctor agrees", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-pidns-" });
  // unshare forks: its child is PID 1 of the new namespace, a Python process with 5000 live
  // malloc blocks (bytearrays above pymalloc's 512-byte limit).
  const unshare = await spawnDetached(
    `exec unshare -p -f --mount-proc python3 -c '
import time
keep = [bytearray(1000) for _ in range(5000)]
open("${dir}/ready", "w").write("READY")
while True:
    time.sleep(1)'`,
  );
  let target = 0;
  try {
    await until(
      () => {
        try {
          target = Number(
            Deno.readTextFileSync(`/proc/${unshare}/task/${unshare}/children`).trim() || 0,
          );
          return target > 0 && Deno.readTextFileSync(`${dir}/ready`) === "READY";
        } catch {
          return false;
        }
      },
      10_000,
      "the namespace's PID 1 to start",
    );
    assert(/\t1$/.test(readStatus(target)["NSpid"] ?? ""), readStatus(target)["NSpid"]);
    // heapscope inside the same PID and mount namespaces sees the target as process 1 (and in its
    // root and working directories: the mount namespace's own root is not it in a chroot).
    const inside = ["nsenter", "-t", String(target), "-p", "-m", "-r", "-w", `${ROOT}/heapscope`];
    const doctor = await new Deno.Command(inside[0]!, {
      args: [...inside.slice(1), "doctor", "1"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dout = new TextDecoder().decode(doctor.stdout);
    assertEquals(doctor.code, 0, dout + new TextDecoder().decode(doctor.stderr));
    assert(/^✓ process\s+process 1 \(python3\).*PID 1 of its own PID namespace/m.test(dout), dout);
    assert(dout.trimEnd().endsWith("✓ ready to attach"), dout);
    const attach = await new Deno.Command(inside[0]!, {
      args: [...inside.slice(1), "1", "--output", `${dir}/leaks.json`, "--quiet"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(attach.stderr);
    assert(attach.code === 0 || attach.code === 1, `exit ${attach.code}: ${err}`);
    const leaks = JSON.parse(await Deno.readTextFile(`${dir}/leaks.json`));
    assert(leaks.summary.allocations >= 5000, JSON.stringify(leaks.summary));
    assertEquals(leaks.target.pid, 1);
    await assertRunning(target);
  } finally {
    for (const p of [target, unshare]) if (p) kill(p);
    await Deno.remove(dir, { recursive: true });
  }
});
