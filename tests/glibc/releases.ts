// `make test-glibc`: heapscope against victims built and run inside Debian roots with other glibc releases.
//
// Usage: node_modules/.bin/deno run -A tests/glibc/releases.ts [suite…]
//        (default: every root in $HEAPSCOPE_GLIBC_CACHE, /var/cache/heapscope/glibc-roots; build
//        them with tests/glibc/roots.sh, which tests/glibc/releases.sh runs first)
// In each root the victims (victim/leaky.c, victim/glibc/*.c) and the interposer
// (tests/interposer/truth.c) are compiled with the root's own gcc against its own glibc; each
// victim runs inside the root (chroot, in a private mount namespace with its own /proc) under that
// interposer, and ./heapscope analyses it from outside. A case passes when every block the victim
// holds is reachable, exactly its leaks are leaked, no freed block is listed, and the allocations
// equal the interposer's live set. Prints one line per case and a table; exit status 1 on failure.

import { parseExpectation } from "../expect.ts";
import { ROOT, spawnProcess, type TestProcess } from "../truth.ts";
import { checkExpect, compareWithTruth, type GlibcExpect, parseExpect } from "./victims.ts";

const CACHE = Deno.env.get("HEAPSCOPE_GLIBC_CACHE") ?? "/var/cache/heapscope/glibc-roots";
const IN_ROOT = "/heapscope"; // where sources, binaries and truth dumps live inside a root

interface Case {
  name: string;
  exe: string;
  args?: string[];
  env?: Record<string, string>;
  /** leaky prints the victim/README.md format; the others victim/glibc/expect.h's. */
  format: "leaky" | "glibc" | "none";
}

const CASES: Case[] = [
  { name: "leaky", exe: "leaky", format: "leaky" },
  { name: "tcache_whole", exe: "tcache_whole", args: ["--threads", "4"], format: "glibc" },
  {
    name: "tcache_whole --exact-first",
    exe: "tcache_whole",
    args: ["--threads", "4", "--exact-first"],
    format: "glibc",
  },
  {
    name: "tcache_whole (MALLOC_MMAP_THRESHOLD_=0)",
    exe: "tcache_whole",
    args: ["--threads", "2"],
    env: { MALLOC_MMAP_THRESHOLD_: "0" },
    format: "glibc",
  },
  { name: "tcache_exit", exe: "tcache_exit", format: "glibc" },
  { name: "heap_pieces", exe: "heap_pieces", format: "glibc" },
  {
    name: "perl",
    exe: "/usr/bin/perl",
    args: ["-e", 'my %h; $h{$_} = "v" x ($_ % 40) for 1..5000; $| = 1; print "READY\\n"; <STDIN>;'],
    format: "none",
  },
];

/** Copied into the root with their repository paths (truth.c includes ../../shim/libc_malloc.h). */
const SOURCES = [
  "victim/leaky.c",
  "victim/glibc/expect.h",
  "victim/glibc/tcache_whole.c",
  "victim/glibc/tcache_exit.c",
  "victim/glibc/heap_pieces.c",
  "tests/interposer/truth.c",
  "shim/libc_malloc.h",
];

async function sh(cmd: string[], what: string): Promise<string> {
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${what} failed:\n${text}`);
  return text;
}

/** Compiles the victims and the interposer inside `root` with its gcc (into /heapscope/bin). */
async function build(root: string): Promise<void> {
  for (const f of SOURCES) {
    const to = `${root}${IN_ROOT}/src/${f}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${ROOT}/${f}`, to);
  }
  await Deno.mkdir(`${root}${IN_ROOT}/bin`, { recursive: true });
  // The flags of the Makefile (leaky: -O0), mk/glibc.mk (-O1) and mk/truth.mk.
  const victim = "-g -Wall -Wextra -Werror -std=gnu11 -pthread";
  const script = [
    `cd ${IN_ROOT}/src`,
    `gcc -O0 ${victim} -o ${IN_ROOT}/bin/leaky victim/leaky.c`,
    ...["tcache_whole", "tcache_exit", "heap_pieces"].map((v) =>
      `gcc -O1 ${victim} -o ${IN_ROOT}/bin/${v} victim/glibc/${v}.c`
    ),
    `gcc -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC -shared -fvisibility=hidden -pthread ` +
    `-o ${IN_ROOT}/bin/libtruth.so tests/interposer/truth.c`,
  ].join(" && ");
  await sh(["chroot", root, "sh", "-c", script], `building the victims in ${root}`);
}

/** Starts `c` inside `root` under its interposer; resolves once it printed READY. */
async function start(root: string, c: Case, truthDir: string): Promise<TestProcess> {
  await Deno.mkdir(`${root}${truthDir}`, { recursive: true });
  const exe = c.exe.startsWith("/") ? c.exe : `${IN_ROOT}/bin/${c.exe}`;
  const env = Object.entries({
    ...c.env,
    LD_PRELOAD: `${IN_ROOT}/bin/libtruth.so`,
    HEAPSCOPE_TRUTH_DIR: truthDir,
  }).map(([k, v]) => `${k}=${v}`);
  // unshare and the shells exec each other: the victim keeps the pid we spawned.
  const proc = spawnProcess([
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    'mount -t proc proc "$0/proc" && exec chroot "$0" env "$@"',
    root,
    ...env,
    exe,
    ...(c.args ?? []),
  ]);
  try {
    await proc.waitForLine((l) => l === "READY", 60_000);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return proc;
}

/** leaky's expectation in the victim/glibc form (reachable = live). */
function fromLeaky(lines: string[]): GlibcExpect {
  const e = parseExpectation(lines);
  const block = (b: { address: number; size: number; label: string }) => ({
    address: b.address,
    size: b.size,
    label: b.label,
  });
  return {
    pid: e.pid,
    glibc: "",
    live: e.reachable.map(block),
    leaked: e.leaked.map(block),
    freed: e.freed.map(block),
  };
}

interface Result {
  suite: string;
  glibc: string;
  name: string;
  ok: boolean;
  blocks: number;
  leaks: number;
  ms: number;
  error?: string;
}

async function runCase(suite: string, root: string, c: Case, n: number): Promise<Result> {
  const t0 = performance.now();
  const truthDir = `${IN_ROOT}/truth/${n}`;
  const proc = await start(root, c, truthDir);
  const r: Result = { suite, glibc: "", name: c.name, ok: false, blocks: 0, leaks: 0, ms: 0 };
  try {
    let expect: GlibcExpect | undefined;
    if (c.format === "glibc") expect = parseExpect(proc.lines);
    if (c.format === "leaky") expect = fromLeaky(proc.lines);
    if (expect !== undefined) {
      await checkExpect(proc.pid, expect);
      r.leaks = expect.leaked.length;
    }
    const { count, run } = await compareWithTruth(proc.pid, `${root}${truthDir}`);
    r.blocks = count;
    r.glibc = run.leaks?.target.allocator ?? "";
    r.ok = true;
  } catch (e) {
    r.error = e instanceof Error ? e.message : String(e);
  } finally {
    await proc.stop();
    r.ms = performance.now() - t0;
  }
  return r;
}

const suites = Deno.args.length > 0 ? Deno.args : [...Deno.readDirSync(CACHE)]
  .filter((e) => e.isDirectory && !e.name.endsWith(".partial"))
  .map((e) => e.name).sort();
if (suites.length === 0) {
  console.error(`releases.ts: no Debian roots in ${CACHE}\nHint: bash tests/glibc/roots.sh`);
  Deno.exit(2);
}
const results: Result[] = [];
for (const suite of suites) {
  const root = `${CACHE}/${suite}`;
  let marker: string;
  try {
    marker = (await Deno.readTextFile(`${root}/.heapscope-root`)).trim();
  } catch {
    console.error(
      `releases.ts: ${root} is not a finished root\nHint: bash tests/glibc/roots.sh ${suite}`,
    );
    Deno.exit(2);
  }
  const t0 = performance.now();
  await build(root);
  console.log(`${suite} (${marker}): victims built in ${(performance.now() - t0).toFixed(0)} ms`);
  for (const [i, c] of CASES.entries()) {
    const r = await runCase(suite, root, c, i);
    results.push(r);
    console.log(
      `  ${r.ok ? "ok  " : "FAIL"} ${c.name}: ${r.glibc || marker}, ${r.blocks} blocks equal to ` +
        `the interposer's, ${r.leaks} expected leaks (${r.ms.toFixed(0)} ms)`,
    );
    if (r.error !== undefined) {
      console.log(r.error.split("\n").map((l) => "       " + l).join("\n"));
    }
  }
}
console.log("\n| suite | allocator | case | live blocks (= interposer) | leaks | result |");
console.log("|---|---|---|---|---|---|");
for (const r of results) {
  console.log(
    `| ${r.suite} | ${r.glibc} | ${r.name} | ${r.blocks} | ${r.leaks} | ${r.ok ? "ok" : "FAIL"} |`,
  );
}
Deno.exit(results.every((r) => r.ok) ? 0 : 1);
