// End to end: nginx (Debian's, a program we did not write) with its [heap] in several pieces.
//
// A forked child cannot merge the brk growth into the [heap] mapping it inherited (the anon_vma
// differs), so nginx's workers, and its daemonised master after `nginx -s reload`, show [heap] as
// two or three mappings. heapscope must walk all of them: the master and a worker, before and after
// a reload, each equal to the interposer's live set with 0 leaks. nginx runs on 127.0.0.1 with a
// private prefix and config; build/libkeep_sigusr2.so keeps the interposer's SIGUSR2 dump handler
// (nginx takes SIGUSR2 for its binary upgrade). Needs Debian's `nginx` package (.ci/run).

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { until } from "../procs.ts";
import { requireBuilt, ROOT, TRUTH_LIB } from "../truth.ts";
import { compareWithTruth, leakedAddresses } from "./victims.ts";

const NGINX = "/usr/sbin/nginx";
const KEEP_SIGUSR2 = `${ROOT}/build/libkeep_sigusr2.so`;

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert(out.success, `${cmd} ${args.join(" ")} failed: ${text}`);
  return text;
}

/** A free TCP port on 127.0.0.1 (bound and released: nginx binds it right after). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/children`).trim();
    if (text !== "") out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

function heapPieces(pid: number): number {
  return (Deno.readTextFileSync(`/proc/${pid}/maps`).match(/ \[heap\]$/gm) ?? []).length;
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** heapscope on `pid`: equal to the interposer's live set, nothing leaked. */
async function exactAndClean(pid: number, truthDir: string, what: string): Promise<void> {
  const { count, run } = await compareWithTruth(pid, truthDir);
  assert(count > 500, `${what}: only ${count} live blocks`);
  assertEquals(leakedAddresses(run.leaks!), [], `${what}: ${run.stdout}${run.stderr}`);
  assert(!/corrupt|not walked|unreadable/.test(run.stdout + run.stderr), run.stdout + run.stderr);
}

Deno.test("nginx master and worker, [heap] in pieces, before and after a reload: exact, 0 leaks", async () => {
  requireBuilt(KEEP_SIGUSR2, "victim-glibc");
  requireBuilt(TRUTH_LIB, "truth");
  try {
    Deno.statSync(NGINX);
  } catch {
    throw new Error(`${NGINX} is missing\nHint: apt-get install -y nginx (as .ci/run does)`);
  }
  const dir = await Deno.makeTempDir({ prefix: "heapscope-nginx-" });
  await Deno.chmod(dir, 0o777); // workers run as nobody and dump their truth here
  const port = freePort();
  const conf = `${dir}/nginx.conf`;
  await Deno.mkdir(`${dir}/logs`);
  // 1024 connections: the worker's connection tables make it grow the heap it inherited.
  await Deno.writeTextFile(
    conf,
    `daemon on;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }
}
`,
  );
  const env = { LD_PRELOAD: `${KEEP_SIGUSR2} ${TRUTH_LIB}`, HEAPSCOPE_TRUTH_DIR: dir };
  let master = 0;
  try {
    await run(NGINX, ["-p", dir, "-c", conf], env);
    await until(
      async () => {
        try {
          master = Number((await Deno.readTextFile(`${dir}/nginx.pid`)).trim());
          return master > 0 && children(master).length === 1;
        } catch {
          return false;
        }
      },
      10_000,
      "nginx to start its worker",
    );
    const [worker] = children(master);
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assertEquals(body, "ok\n");
    assert(heapPieces(worker!) >= 2, `worker [heap] in ${heapPieces(worker!)} piece(s)`);
    await exactAndClean(master, dir, "master");
    await exactAndClean(worker!, dir, "worker");

    await run(NGINX, ["-p", dir, "-c", conf, "-s", "reload"]);
    let next = 0;
    await until(
      () => {
        const c = children(master);
        next = c.find((p) => p !== worker) ?? 0;
        return next !== 0 && !alive(worker!) && c.length === 1;
      },
      10_000,
      "nginx to replace its worker after the reload",
    );
    assert(heapPieces(master) >= 2, `master [heap] in ${heapPieces(master)} piece(s)`);
    await exactAndClean(master, dir, "master after reload");
    await exactAndClean(next, dir, "new worker");
  } finally {
    if (master > 0) {
      try {
        Deno.kill(master, "SIGTERM");
      } catch { /* gone */ }
      await until(() => !alive(master), 10_000, "nginx to stop").catch(() => {
        try {
          Deno.kill(master, "SIGKILL");
        } catch { /* gone */ }
      });
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
