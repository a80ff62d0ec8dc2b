// End-to-end tests of `heapscope run`: a C program whose named functions allocate known counts runs
// under build/librecorder.so; its snapshots must name the allocating function and line of every
// leaked block, count each site exactly, and survive threads, fork+exec and SIGUSR1.

import assert from "node:assert/strict";
import { runRecorded, type RunSnapshot } from "../cli/run.ts";
import { readRecorderDump } from "../ffi/recorder_table.ts";
import type { SiteRow, StackFrame } from "../analysis/sites.ts";
import { formatSites } from "../report/sites_text.ts";
import type { LeaksFile } from "../report/schema.ts";
import { selectReportModel } from "../report/view/mod.ts";
import { STATUS_REACHABLE } from "../analysis/types.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const PROGRAM = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *kept[7];
static int out = 1;

__attribute__((noinline)) void leak_a(void) {
  for (int i = 0; i < 3; i++) {
    void *p = malloc(100); /* LINE leak_a */
    memset(p, 0, 100);
  }
}

__attribute__((noinline)) void leak_b(void) {
  for (int i = 0; i < 5; i++) {
    char *p = calloc(1, 200); /* LINE leak_b */
    p[0] = 1;
  }
}

__attribute__((noinline)) void keep_c(void) {
  for (int i = 0; i < 7; i++) kept[i] = malloc(50); /* LINE keep_c */
}

__attribute__((noinline)) void leak_pair(void) {
  char *p = malloc(4000), *q = malloc(4000); /* LINE leak_pair */
  p[0] = q[0] = 1;
}

__attribute__((noinline)) void churn(void) {
  for (int i = 0; i < 1000; i++) free(malloc(32)); /* LINE churn */
}

__attribute__((noinline)) void *thread_leak(void *arg) {
  (void)arg;
  dprintf(out, "tid %d\n", gettid());
  for (int i = 0; i < 4; i++) {
    void *p = malloc(64); /* LINE thread_leak */
    memset(p, 1, 64);
  }
  return NULL;
}

__attribute__((noinline)) void child_work(void) {
  for (int i = 0; i < 9; i++) kept[i % 7] = malloc(24); /* LINE child_work */
}

__attribute__((noinline)) void scrub(void) {
  volatile char buf[4096];
  memset((char *)buf, 0, sizeof buf);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "plain";
  if (argc > 2) out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (strcmp(mode, "child") == 0) {
    child_work();
    dprintf(out, "child %d\n", getpid());
    return 0;
  }
  leak_a();
  leak_b();
  leak_pair();
  keep_c();
  churn();
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_leak, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  if (strcmp(mode, "fork") == 0) {
    pid_t c = fork();
    if (c == 0) {
      execl("/proc/self/exe", argv[0], "child", argv[2], (char *)NULL);
      _exit(127);
    }
    int st = 0;
    waitpid(c, &st, 0);
    dprintf(out, "child-status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    free(malloc(11));
  }
  scrub();
  if (strcmp(mode, "signal") == 0) {
    kill(getpid(), SIGUSR1); /* returns once heapscope has copied the memory */
    for (int i = 0; i < 7; i++) free(kept[i]);
  }
  scrub();
  return 0;
}
`;

const FUNCTIONS = [
  "leak_a",
  "leak_b",
  "leak_pair",
  "keep_c",
  "churn",
  "thread_leak",
  "child_work",
] as const;
type Fn = (typeof FUNCTIONS)[number];

/** Source line of each "LINE fn" marker comment in PROGRAM. */
const LINES = Object.fromEntries(
  PROGRAM.split("\n").flatMap((l, i) => {
    const m = /LINE (\w+)/.exec(l);
    return m ? [[m[1]!, i + 1]] : [];
  }),
) as Record<Fn, number>;

async function build(): Promise<{ dir: string; prog: string }> {
  const make = await new Deno.Command("make", { args: ["-s", "-C", ROOT, "recorder"] }).output();
  assert.ok(make.success, new TextDecoder().decode(make.stderr));
  const dir = await Deno.makeTempDir({ prefix: "recorder-test-" });
  await Deno.writeTextFile(`${dir}/prog.c`, PROGRAM);
  const cc = await new Deno.Command("gcc", {
    args: [
      "-g",
      "-O0",
      "-fno-omit-frame-pointer",
      "-pthread",
      "-o",
      `${dir}/prog`,
      `${dir}/prog.c`,
    ],
  }).output();
  assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
  return { dir, prog: `${dir}/prog` };
}

/** SIGUSR1: the test program raises it in "signal" mode. */
const SIGUSR1 = 10;

async function run(mode: string, extra: { signal?: number; top?: number } = {}) {
  const { dir, prog } = await build();
  const snaps: RunSnapshot[] = [];
  const status = await runRecorded([prog, mode, `${dir}/out.txt`], {
    output: `${dir}/leaks.json`,
    flameGraph: `${dir}/leaks.folded`,
    recordDir: dir,
    quiet: true,
    stdio: "null",
    signal: extra.signal,
    top: extra.top,
    onSnapshot: (s) => snaps.push(s),
  });
  const lines = (await Deno.readTextFile(`${dir}/out.txt`)).trim().split("\n");
  return { dir, status, snaps, lines };
}

/** The frame of the program's own function in a site's stack (innermost program frame). */
function ownFrame(frames: StackFrame[]): StackFrame | undefined {
  return frames.find((f) => FUNCTIONS.includes(f.function as Fn));
}

function siteOf(s: RunSnapshot, fn: Fn): SiteRow {
  const all = [...s.sites!.sites];
  const row = all.find((r) => ownFrame(s.sites!.stacks[r.site] ?? [])?.function === fn);
  assert.ok(row, `a site whose stack names ${fn}`);
  return row;
}

/** Sites with every row (the snapshot keeps only --top rows: the test asks for all). */
function checkPlainSites(s: RunSnapshot, tids: number[]) {
  assert.equal(s.sites!.unmatchedBlocks, 0, "every recorded live block is a heap allocation");
  const a = siteOf(s, "leak_a"), b = siteOf(s, "leak_b"), c = siteOf(s, "keep_c");
  assert.deepEqual([a.count, a.totalCount, a.bytes], [3, 3, 300]);
  assert.deepEqual([b.count, b.totalCount, b.bytes], [5, 5, 1000]);
  assert.deepEqual([c.totalCount, c.peakCount, c.peakBytes], [7, 7, 350]);
  const ch = siteOf(s, "churn");
  assert.deepEqual([ch.count, ch.totalCount, ch.peakCount, ch.totalBytes], [0, 1000, 1, 32000]);
  const t = siteOf(s, "thread_leak");
  assert.deepEqual([t.count, t.totalCount], [8, 8]);
  assert.deepEqual([...t.threads].sort(), [...tids].sort(), "thread ids of the thread site");
  // The analysis finds leak_a's and leak_b's blocks leaked; each is attributed to its site.
  assert.equal(a.leakedCount, 3);
  assert.equal(b.leakedCount, 5);
}

function checkLeakedStacks(s: RunSnapshot) {
  const { analysis } = s;
  const sites = s.sites!;
  let leaked = 0;
  for (let i = 0; i < analysis.status.length; i++) {
    if (analysis.status[i] === STATUS_REACHABLE) continue;
    const site = sites.site[i]!;
    assert.ok(site >= 0, `leaked block ${i} was recorded`);
    const frame = ownFrame(sites.stacks[site]!);
    assert.ok(frame, `leaked block ${i}'s stack names a program function`);
    assert.match(frame.file ?? "", /prog\.c$/);
    assert.equal(frame.line, LINES[frame.function as Fn], `line of ${frame.function}`);
    leaked++;
  }
  assert.ok(leaked >= 8, `at least leak_a's and leak_b's blocks are leaked (got ${leaked})`);
}

Deno.test("runRecorded() names the allocating function and line of every leaked block, and counts each site", async () => {
  const { dir, status, snaps, lines } = await run("plain");
  assert.equal(status, 1, "leaks found");
  assert.equal(snaps.length, 1);
  const s = snaps[0]!;
  assert.equal(s.kind, "exit");
  const tids = lines.filter((l) => l.startsWith("tid ")).map((l) => Number(l.slice(4)));
  assert.equal(tids.length, 2);
  checkPlainSites(s, tids);
  checkLeakedStacks(s);
  // leaks.json version 3 on disk.
  const json = JSON.parse(await Deno.readTextFile(`${dir}/leaks.json`));
  assert.equal(json.version, 3);
  const node = json.nodes.find((n: { status: string; site?: number }) =>
    n.status !== "reachable" && n.site !== undefined
  );
  assert.ok(node);
  assert.ok(
    json.stacks[node.site].some((f: StackFrame) =>
      f.function === "leak_b" || f.function === "leak_a" || f.function === "thread_leak"
    ),
  );
  assert.ok(json.timeline.length >= 1);
  const folded = await Deno.readTextFile(`${dir}/leaks.folded`);
  assert.match(folded, /^.*main;leak_b 1000$/m);
  assert.match(folded, /^.*main;leak_a 300$/m);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runRecorded() handles fork+exec: the child records on its own, the parent's table is intact", async () => {
  const { dir, status, snaps, lines } = await run("fork");
  assert.equal(status, 1);
  assert.ok(lines.includes("child-status 0"), lines.join("|"));
  const child = lines.find((l) => l.startsWith("child "));
  assert.ok(child, "the exec'd child ran");
  const dump = readRecorderDump(`${dir}/record.${Number(child.slice(6))}`);
  const childSites = [...dump.stacks.values()].filter((st) => st.totalCount === 9);
  assert.equal(childSites.length, 1, "the child's child_work site, 9 allocations");
  assert.equal(dump.blocks.filter((b) => b.stack === childSites[0]!.id).length, 9);
  const tids = lines.filter((l) => l.startsWith("tid ")).map((l) => Number(l.slice(4)));
  checkPlainSites(snaps[0]!, tids);
  checkLeakedStacks(snaps[0]!);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runRecorded() takes a --signal snapshot of the live state at the signal", async () => {
  const { dir, snaps } = await run("signal", { signal: SIGUSR1 });
  assert.deepEqual(snaps.map((s) => s.kind), ["request", "exit"]);
  const [atSignal, atExit] = snaps as [RunSnapshot, RunSnapshot];
  const c1 = siteOf(atSignal, "keep_c"), c2 = siteOf(atExit, "keep_c");
  assert.deepEqual(
    [c1.count, c1.bytes, c1.leakedCount],
    [7, 350, 0],
    "kept blocks live and reachable",
  );
  assert.deepEqual([c2.count, c2.peakCount, c2.totalCount], [0, 7, 7], "freed after the signal");
  assert.equal(atExit.table!.blocks.length, atSignal.table!.blocks.length - 7);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runRecorded() keeps only the stacks leaks.json uses and tells apart two mallocs on one line", async () => {
  const { dir, snaps } = await run("plain", { top: 3 });
  const s = snaps[0]!;
  // leak_pair's two sites lead the list (the most leaked bytes)...
  const sites = s.sites!;
  const pair = sites.sites.filter((r) =>
    ownFrame(sites.stacks[r.site] ?? [])?.function === "leak_pair"
  );
  assert.equal(pair.length, 2, "one site per malloc call");
  const [p, q] = pair.map((r) => sites.stacks[r.site]![0]!) as [StackFrame, StackFrame];
  assert.equal(p.line, LINES.leak_pair);
  assert.equal(q.line, LINES.leak_pair);
  assert.notEqual(p.offset, q.offset);
  // ...and print apart, in the summary and in the report's sites table.
  const text = formatSites(sites);
  const at = text.split("\n").filter((l) => l.includes("at leak_pair"));
  assert.equal(at.length, 2, text);
  assert.notEqual(at[0], at[1]);
  assert.match(at[0]!, /at leak_pair\+0x[0-9a-f]+ \S*prog\.c:\d+(:\d+)?$/);
  const json: LeaksFile = JSON.parse(await Deno.readTextFile(`${dir}/leaks.json`));
  const labels = selectReportModel(json).sites!.rows
    .filter((r) => r.label.startsWith("leak_pair"))
    .map((r) => `${r.label} ${r.location}`);
  assert.equal(labels.length, 2);
  assert.notEqual(labels[0], labels[1]);
  assert.match(labels[0]!, /^leak_pair\+0x[0-9a-f]+ prog\.c:\d+/);

  // leaks.json: site ids are dense indexes into `stacks`, each stack used by a node or a row.
  assert.equal(json.sites!.length, 3);
  const used = new Set([
    ...json.sites!.map((r) => r.site),
    ...json.nodes.flatMap((n) => n.site === undefined ? [] : [n.site]),
  ]);
  assert.deepEqual([...used].sort((a, b) => a - b), [...json.stacks!.keys()]);
  assert.ok(json.stacks!.length < s.table!.stacks.size, "churn's stack (nothing live) is dropped");
  const recorded = [...s.table!.stacks.values()].filter((st) => st.totalCount > 0).length;
  assert.equal(json.omittedSites, recorded - 3, "every recorded site without a row is counted");
  await Deno.remove(dir, { recursive: true });
});
