// Suppressions (--suppressions FILE) end to end on real programs, each expectation computed from
// the leaks.json of the same run by a second, simpler rule (a substring of a frame's function, file
// or image; the type's name; the size), never from the marks under test:
//   by function and by file: bench/real_programs/sessions.cpp under the recorder, attached
//   by library, and LSan's frame order: the same program under `heapscope run`
//   by type: the same program attached without the recorder (types from vtables and containers)
//   by size: victim/leaky, saved and analysed offline (no stacks, no types)
// plus LeakSanitizer's template matching, rule by rule, and the file's errors.

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  applySuppressions,
  parseSuppressions,
  SuppressionsError,
  templateMatch,
} from "../analysis/suppressions.ts";
import { analyze } from "../analysis/mod.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { leaksJsonChunks, toLeaksFile } from "../report/leaks_json.ts";
import type { LeaksFile, LeaksNode } from "../report/schema.ts";
import { startVictim } from "./expect.ts";
import { built, heapscope, readLeaks, RECORDER, said, tempDir } from "./cli_runs.ts";
import { ROOT, spawnProcess } from "./truth.ts";

const SESSIONS = `${ROOT}/build/real/sessions`;

// ---- LeakSanitizer's templates -------------------------------------------------------------

Deno.test("templateMatch() follows LeakSanitizer's TemplateMatch", () => {
  const cases: [string, string, boolean][] = [
    ["make_tree", "make_tree(std::string const&, int)", true], // a substring
    ["tree", "make_tree(int)", true],
    ["^make", "make_tree(int)", true],
    ["^tree", "make_tree(int)", false], // "^" pins the start
    ["(int)$", "make_tree(int)", true],
    ["make$", "make_tree(int)", false], // "$" pins the end
    ["^make_tree(int)$", "make_tree(int)", true],
    ["make*int", "make_tree(int)", true], // "*" is any run
    ["*LSanTestLeakingFunc*", "LSanTestLeakingFunc()", true],
    ["^*tree", "make_tree", true], // "*" frees the "^"
    ["tree*$", "make_tree(int)", true], // "*" just before "$" accepts any end
    ["a*b$", "abab", false], // LSan takes the first "b" and then wants the end: kept as is
    ["libstdc++", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30", true],
    ["*", "anything", true],
    ["anything", "", false], // an empty name (no file known) matches nothing
  ];
  for (const [templ, str, want] of cases) {
    equal(templateMatch(templ, str), want, `templateMatch(${templ}, ${str})`);
  }
});

Deno.test("parseSuppressions() reads LSan's file format and refuses what it cannot use", () => {
  const rules = parseSuppressions(
    "# known leaks\n  leak:make_tree  \r\n\n\ttype:^EchoHandler$\nsize:40\nsize:100-200\nsize:4096-\n",
    "a.supp",
  );
  deepEqual(
    rules.map((r) => [r.kind, r.pattern, r.line, r.min, r.max]),
    [
      ["leak", "make_tree", 2, undefined, undefined],
      ["type", "^EchoHandler$", 4, undefined, undefined],
      ["size", "40", 5, 40, 40],
      ["size", "100-200", 6, 100, 200],
      ["size", "4096-", 7, 4096, Infinity],
    ],
  );
  const refused = (text: string, message: RegExp) =>
    throws(() => parseSuppressions(text, "b.supp"), (e: unknown) => {
      ok(e instanceof SuppressionsError, String(e));
      equal(e.exitStatus, 2);
      ok(message.test(e.message), e.message);
      ok(e.hints.length > 0);
      return true;
    });
  refused("leak:a\nrace:foo\n", /"b\.supp": line 2 is not a rule: "race:foo"/);
  refused("make_tree\n", /line 1 is not a rule/);
  refused("leak:\n", /b\.supp:1 is empty/);
  refused("type:(\n", /b\.supp:1: "\(" is not a regular expression/);
  refused("size:200-100\n", /"200-100" is not a size range/);
  refused("size:1k\n", /"1k" is not a size range/);
});

// ---- on real programs ------------------------------------------------------------------------

/** The rule index each leaked node was marked with, by id (absent: not suppressed). */
function marks(leaks: LeaksFile): Map<number, number> {
  const out = new Map<number, number>();
  for (const n of leaks.nodes) if (n.suppressed !== undefined) out.set(n.id, n.suppressed);
  return out;
}

/**
 * The totals each rule must have when every suppressed direct leak was chosen by `expected` (rule
 * index or -1) and nothing else matches on its own: each direct leak brings what it holds.
 */
function expectedTotals(leaks: LeaksFile, expected: (n: LeaksNode) => number) {
  const totals = (leaks.suppressions ?? []).map(() => ({ leaks: 0, bytes: 0 }));
  const direct = new Map<number, number>();
  for (const n of leaks.nodes) {
    if (n.leak !== "direct") continue;
    const r = expected(n);
    direct.set(n.id, r);
    if (r < 0) continue;
    totals[r]!.leaks += n.held!.blocks;
    totals[r]!.bytes += n.held!.bytes;
  }
  return { totals, direct };
}

function assertSuppressed(leaks: LeaksFile, expected: (n: LeaksNode) => number): void {
  const { totals, direct } = expectedTotals(leaks, expected);
  const got = marks(leaks);
  for (const [id, r] of direct) equal(got.get(id) ?? -1, r, `direct leak ${id}`);
  deepEqual(
    (leaks.suppressions ?? []).map((s) => ({ leaks: s.leaks, bytes: s.bytes })),
    totals,
    "each rule's blocks and bytes: the structures of the direct leaks it matched",
  );
  const sum = totals.reduce((a, t) => ({ leaks: a.leaks + t.leaks, bytes: a.bytes + t.bytes }), {
    leaks: 0,
    bytes: 0,
  });
  equal(leaks.summary.suppressed, sum.leaks);
  equal(leaks.summary.suppressedBytes, sum.bytes);
  equal(got.size, sum.leaks, "every suppressed block is marked");
}

/** The frames of a node's recorded allocation stack. */
function stackOf(leaks: LeaksFile, n: LeaksNode) {
  return n.site === undefined ? [] : leaks.stacks![n.site]!;
}

async function writeRules(dir: string, name: string, rules: string[]): Promise<string> {
  await Deno.writeTextFile(`${dir}/${name}`, rules.join("\n") + "\n");
  return `${dir}/${name}`;
}

Deno.test("leak: rules by function and by file on a recorded C++ program", async () => {
  built(SESSIONS, "victim");
  built(RECORDER, "recorder");
  const dir = await tempDir("heapscope-supp-");
  const proc = spawnProcess([SESSIONS], { env: { LD_PRELOAD: RECORDER } });
  try {
    await proc.waitForLine((l) => l.startsWith("READY"));
    // A file, then a function: a tree whose structure starts in an unordered_map's buckets is
    // matched by hashtable_policy.h (an inlined frame of an inner return address), the other
    // trees by make_tree; the forgotten std::map and EchoHandler (allocated in main) by neither.
    const supp = await writeRules(dir, "a.supp", ["leak:hashtable_policy.h", "leak:make_tree"]);
    const r = await heapscope([String(proc.pid), "-o", `${dir}/a.json`, "--suppressions", supp]);
    equal(r.code, 1, said(r));
    const leaks = await readLeaks(`${dir}/a.json`);
    assertSuppressed(leaks, (n) => {
      const frames = stackOf(leaks, n);
      if (frames.some((f) => f.file?.endsWith("/hashtable_policy.h"))) return 0;
      if (frames.some((f) => f.function?.startsWith("make_tree("))) return 1;
      return -1;
    });
    ok(leaks.suppressions![0]!.leaks > 0 && leaks.suppressions![1]!.leaks > 0, said(r));
    ok(leaks.summary.suppressed! < leaks.summary.leaked, "the two leaks from main are left");
    ok(/suppressed +[\d,]+ blocks, .* by 2 of 2 rules/.test(r.stdout), said(r));
    ok(/leak:make_tree \(.*a\.supp:2\): [\d,]+ blocks/.test(r.stdout), said(r));
    ok(/and [\d,]+ suppressed\)/.test(r.stdout), said(r));
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("leak: rules by library, in LSan's frame order, under heapscope run", async () => {
  built(SESSIONS, "victim");
  const dir = await tempDir("heapscope-supp-");
  try {
    // make_tree is listed first, but every stack's innermost frame is operator new in libstdc++,
    // and LSan tries every rule on a frame (its image first) before the next frame: the library
    // rule takes every leak, and none is left (exit 0).
    const supp = await writeRules(dir, "b.supp", ["leak:make_tree", "leak:libstdc++.so"]);
    const r = await new Deno.Command(`${ROOT}/heapscope`, {
      args: ["run", "-o", `${dir}/b.json`, "--suppressions", supp, "--no-color", "--", SESSIONS],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const run = {
      code: r.code,
      stdout: new TextDecoder().decode(r.stdout),
      stderr: new TextDecoder().decode(r.stderr),
    };
    equal(run.code, 0, said(run));
    const leaks = await readLeaks(`${dir}/b.json`);
    ok(leaks.summary.leaked > 0, "the program leaks");
    assertSuppressed(leaks, (n) => {
      const frames = stackOf(leaks, n);
      return frames[0]?.image?.includes("/libstdc++.so") ? 1 : -1;
    });
    equal(leaks.summary.suppressed, leaks.summary.leaked, "every leak is suppressed");
    equal(leaks.suppressions![0]!.leaks, 0);
    ok(/no leaks but suppressed ones/.test(run.stdout), said(run));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("type: rules on an attached C++ program without the recorder", async () => {
  built(SESSIONS, "victim");
  const dir = await tempDir("heapscope-supp-");
  const proc = spawnProcess([SESSIONS]);
  try {
    await proc.waitForLine((l) => l.startsWith("READY"));
    const supp = await writeRules(dir, "c.supp", [
      "# the two leaks main makes on purpose",
      "type:^EchoHandler$",
      "type:^std::map",
      "leak:make_tree", // no stacks without the recorder: matches nothing
    ]);
    const r = await heapscope([String(proc.pid), "-o", `${dir}/c.json`, "--suppressions", supp]);
    equal(r.code, 1, said(r));
    const leaks = await readLeaks(`${dir}/c.json`);
    const typeOf = (n: LeaksNode) => n.type === undefined ? "" : leaks.types![n.type]!.name;
    assertSuppressed(leaks, (n) => {
      if (typeOf(n) === "EchoHandler") return 0;
      if (typeOf(n).startsWith("std::map")) return 1;
      return -1;
    });
    equal(leaks.suppressions![0]!.leaks > 0 && leaks.suppressions![1]!.leaks > 0, true, said(r));
    deepEqual(leaks.suppressions![2], {
      rule: "leak:make_tree",
      source: supp,
      line: 4,
      leaks: 0,
      bytes: 0,
    });
    ok(/1 matched nothing/.test(r.stdout), said(r));
    ok(
      /1 leak: suppression rule matched nothing: process \d+ has no recorded/.test(r.stdout),
      said(r),
    );
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("size: rules on a saved snapshot of the victim, analysed offline", async () => {
  const dir = await tempDir("heapscope-supp-");
  const { proc } = await startVictim();
  try {
    const save = await heapscope([String(proc.pid), "--save", `${dir}/v.hsnap`]);
    equal(save.code, 0, said(save));
    await proc.stop();
    // Every 40-byte direct leak (a 32-byte request) with what it holds, whatever its size, and
    // the big mmapped block; the 1000-byte and the thread arena's leaks are left (exit 1).
    const supp = await writeRules(dir, "d.supp", ["size:40-40", "size:400000-"]);
    const r = await heapscope([
      "analyze",
      `${dir}/v.hsnap`,
      "-o",
      `${dir}/d.json`,
      "--suppressions",
      supp,
    ]);
    equal(r.code, 1, said(r));
    const leaks = await readLeaks(`${dir}/d.json`);
    assertSuppressed(leaks, (n) => n.size === 40 ? 0 : n.size >= 400000 ? 1 : -1);
    const held = leaks.nodes.filter((n) =>
      n.leak === "indirect" && n.suppressed === 0 && n.size !== 40
    );
    ok(held.length > 0, "blocks of other sizes held by a suppressed leak are suppressed with it");
    // Everything suppressed: exit 0.
    const all = await writeRules(dir, "e.supp", ["size:1-"]);
    const r2 = await heapscope([
      "analyze",
      `${dir}/v.hsnap`,
      "-o",
      `${dir}/e.json`,
      "--suppressions",
      all,
    ]);
    equal(r2.code, 0, said(r2));
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad suppressions file is a usage error before the target is stopped", async () => {
  const dir = await tempDir("heapscope-supp-");
  const { proc } = await startVictim();
  try {
    const bad = await writeRules(dir, "bad.supp", ["leak:ok", "lek:typo"]);
    const r = await heapscope([String(proc.pid), "-o", `${dir}/x.json`, "--suppressions", bad]);
    equal(r.code, 2, said(r));
    ok(/bad\.supp": line 2 is not a rule: "lek:typo"/.test(r.stderr), said(r));
    ok(/Hint:/.test(r.stderr), said(r));
    const missing = await heapscope([String(proc.pid), "--suppressions", `${dir}/none.supp`]);
    equal(missing.code, 2, said(missing));
    ok(
      /Cannot read suppressions file ".*none\.supp": the file does not exist/.test(missing.stderr),
    );
    await Deno.stat(`${dir}/x.json`).then(
      () => ok(false, "no output is written"),
      () => {},
    );
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("leaks.json with suppressions: streamed and whole are the same file", async () => {
  const { proc } = await startVictim();
  try {
    const analysis = analyze(await captureSnapshot(proc.pid));
    const suppressions = applySuppressions(
      analysis,
      parseSuppressions("size:40\ntype:nothing\n", "f.supp"),
    );
    ok(suppressions.suppressed > 0);
    let text = "";
    const decoder = new TextDecoder();
    for (const c of leaksJsonChunks(analysis, { suppressions, chunkBytes: 8192 })) {
      text += decoder.decode(c, { stream: true });
    }
    text += decoder.decode();
    deepEqual(JSON.parse(text), toLeaksFile(analysis, { suppressions }));
  } finally {
    await proc.stop();
  }
});
