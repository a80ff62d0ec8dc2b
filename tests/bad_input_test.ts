// End to end: bad leaks.json inputs and interrupted runs never produce or clobber an output file.
//
// `heapscope report` on a damaged file exits 2, names the file and the problem, writes nothing and
// leaves an existing report.html byte-identical; a failing or interrupted `heapscope <pid>` leaves
// an existing leaks.json byte-identical and no temporary file behind.

import { startHeapscope } from "./procs.ts";
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startVictim } from "./expect.ts";

const heapscope = (args: string[]) => startHeapscope(args).done;

/** Names in `dir`, sorted. */
function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function bytes(path: string): Uint8Array {
  return Deno.readFileSync(path);
}

/** A real leaks.json of the victim, captured once for every test here. */
let good: string | undefined;
async function goodLeaks(): Promise<string> {
  if (good !== undefined) return good;
  const dir = Deno.makeTempDirSync({ prefix: "hs_bad_" });
  const { proc } = await startVictim();
  try {
    const run = await heapscope([String(proc.pid), "--output", `${dir}/leaks.json`, "--quiet"]);
    assertEquals(run.code, 1, run.stderr);
    good = Deno.readTextFileSync(`${dir}/leaks.json`);
    return good;
  } finally {
    await proc.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Damaged variants of a good leaks.json, each with the problem the message must name. */
function damaged(text: string): [string, string, RegExp][] {
  const obj = JSON.parse(text);
  const edit = (f: (o: Record<string, unknown>) => void) => {
    const o = structuredClone(obj);
    f(o);
    return JSON.stringify(o);
  };
  const firstId = obj.nodes[0].id as number;
  const maxId = Math.max(...obj.nodes.map((n: { id: number }) => n.id));
  return [
    ["truncated", text.slice(0, Math.floor(text.length / 2)), /truncated/],
    ["empty", "", /empty/],
    ["not JSON", "<!doctype html><p>not a leaks file</p>", /not JSON/],
    ["a JSON array", "[1, 2, 3]", /expected a JSON object, found an? array/],
    ["wrong format", edit((o) => o.format = "pprof"), /wrong format "pprof"/],
    ["no format", edit((o) => delete o.format), /wrong format null/],
    ["wrong version", edit((o) => o.version = 99), /unsupported version 99/],
    ["version as a string", edit((o) => o.version = "2"), /unsupported version "2"/],
    [
      "an edge to a dangling node id",
      edit((o) => (o.edges as unknown[]).push({ ...obj.edges[0], target: maxId + 1000 })),
      new RegExp(
        `edges\\[\\d+\\]\\.target names node id ${
          maxId + 1000
        }, which is not in nodes \\(dangling id\\)`,
      ),
    ],
    [
      "a root to a dangling node id",
      edit((o) => (o.roots as unknown[]).push({ ...obj.roots[0], target: maxId + 7 })),
      new RegExp(`roots\\[\\d+\\]\\.target names node id ${maxId + 7}.*dangling id`),
    ],
    [
      "a duplicate node id",
      edit((o) => (o.nodes as unknown[]).push(structuredClone(obj.nodes[0]))),
      new RegExp(`duplicate node id ${firstId}`),
    ],
    // Wrong types, each a field the viewer would render.
    [
      "warnings as a number",
      edit((o) => o.warnings = 5),
      /field warnings is number 5, expected array/,
    ],
    [
      "stacks as a string",
      edit((o) => o.stacks = "x"),
      /field stacks is string "x", expected array/,
    ],
    [
      "sites of numbers",
      edit((o) => o.sites = [1, 2, 3]),
      /sites\[0\] is number 1, expected an object/,
    ],
    [
      "a node's size as a string",
      edit((o) => (o.nodes as Record<string, unknown>[])[0]!.size = "x"),
      /nodes\[0\]\.size is missing|nodes\[0\]\.size is string "x"/,
    ],
    [
      "a node's bytes as a number",
      edit((o) => (o.nodes as Record<string, unknown>[])[0]!.bytes = 5),
      /nodes\[0\]\.bytes is number 5, expected string/,
    ],
    [
      "a node's via as a string",
      edit((o) => (o.nodes as Record<string, unknown>[])[0]!.via = "x"),
      /nodes\[0\]\.via is string "x"/,
    ],
    [
      "a node's site out of range",
      edit((o) => (o.nodes as Record<string, unknown>[])[0]!.site = 3),
      /nodes\[0\]\.site is 3, but stacks has 0 entries/,
    ],
    [
      "a node's leak as a number",
      edit((o) => (o.nodes as Record<string, unknown>[])[0]!.leak = 5),
      /nodes\[0\]\.leak is number 5, expected "direct" or "indirect"/,
    ],
    [
      "a negative leaked count",
      edit((o) => (o.summary as Record<string, unknown>).leaked = -1),
      /summary\.leaked is number -1, expected a whole number ≥ 0/,
    ],
    // Shapes that cost memory or the stack before they could be refused.
    [
      "200,000-deep nesting in warnings",
      text.replace('"warnings":[', `"warnings":[${"[".repeat(200_000)}${"]".repeat(200_000)},`),
      /deeper than 32 levels/,
    ],
    ["binary bytes", "\x00\x01\x1b[2J\x7fELF\x02\x01", /not JSON/],
  ];
}

Deno.test("heapscope report on damaged files: exit 2, file and problem named, report.html untouched", async () => {
  const text = await goodLeaks();
  const dir = Deno.makeTempDirSync({ prefix: "hs_bad_" });
  try {
    // A good report first: every failing run below must leave it byte-identical.
    Deno.writeTextFileSync(`${dir}/good.json`, text);
    const ok = await heapscope(["report", `${dir}/good.json`, "--html", `${dir}/report.html`]);
    assertEquals(ok.code, 1, ok.stderr);
    const report = bytes(`${dir}/report.html`);
    assert(report.length > 1000);
    const cases = damaged(text);
    for (const [what, content, problem] of cases) {
      const input = `${dir}/in.json`;
      Deno.writeTextFileSync(input, content);
      const before = names(dir);
      const run = await heapscope(["report", input, "--html", `${dir}/report.html`]);
      assertEquals(run.code, 2, `${what}: ${run.stderr}`);
      assert(run.stderr.includes(`"${input}"`), `${what}: file not named: ${run.stderr}`);
      assert(problem.test(run.stderr), `${what}: problem not named: ${run.stderr}`);
      assert(!/internal error|\n\s+at /.test(run.stderr), `${what}: a stack trace: ${run.stderr}`);
      assertEquals(bytes(`${dir}/report.html`), report, `${what}: report.html was changed`);
      assertEquals(names(dir), before, `${what}: files were added or removed`);
      // And into a path that does not exist yet: nothing gets created.
      const fresh = await heapscope(["report", input, "--html", `${dir}/new.html`]);
      assertEquals(fresh.code, 2, `${what}: ${fresh.stderr}`);
      assertEquals(names(dir), before, `${what}: a report was written`);
    }
    // Missing file and a directory: same rules.
    for (const [input, problem] of [[`${dir}/nope.json`, /does not exist/], [dir, /directory/]]) {
      const run = await heapscope(["report", input as string, "--html", `${dir}/report.html`]);
      assertEquals(run.code, 2, run.stderr);
      assert(run.stderr.includes(`"${input}"`) && (problem as RegExp).test(run.stderr), run.stderr);
      assertEquals(bytes(`${dir}/report.html`), report);
    }
    // A FIFO and a device are never opened: no hang, no endless read.
    const fifo = `${dir}/fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    for (const input of [fifo, "/dev/zero"]) {
      const run = await heapscope(["report", input, "--html", `${dir}/report.html`]);
      assertEquals(run.code, 2, run.stderr);
      assert(/not a regular file/.test(run.stderr), run.stderr);
      assertEquals(bytes(`${dir}/report.html`), report);
    }
    Deno.removeSync(fifo);
    // No raw control byte of the input reaches the terminal.
    Deno.writeTextFileSync(
      `${dir}/in.json`,
      '{"format":"heapscope-leaks","version":3,"x":"\x1b]0;pwned\x07"',
    );
    const esc = await heapscope(["report", `${dir}/in.json`, "--html", `${dir}/report.html`]);
    assert(![...esc.stderr].some((c) => c.charCodeAt(0) < 0x20 && c !== "\n"), esc.stderr);
    // An --html path that cannot be written: exit 2 naming it, not a stack trace.
    const unwritable = await heapscope([
      "report",
      `${dir}/good.json`,
      "--html",
      `${dir}/no/r.html`,
    ]);
    assertEquals(unwritable.code, 2, unwritable.stderr);
    assert(unwritable.stderr.includes(`${dir}/no/r.html`), unwritable.stderr);
    assert(/Hint:/.test(unwritable.stderr) && !/\n\s+at /.test(unwritable.stderr));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("outputs that are not regular files are written in place or through, never replaced", async () => {
  const text = await goodLeaks();
  const dir = Deno.makeTempDirSync({ prefix: "hs_bad_" });
  try {
    Deno.writeTextFileSync(`${dir}/good.json`, text);
    // A device stays a device.
    const toNull = await heapscope(["report", `${dir}/good.json`, "--html", "/dev/null"]);
    assertEquals(toNull.code, 1, toNull.stderr);
    assert(Deno.statSync("/dev/null").isCharDevice, "/dev/null is still a character device");
    // A symbolic link is followed: the target is written, the link stays a link.
    Deno.writeTextFileSync(`${dir}/target.html`, "old");
    Deno.symlinkSync("target.html", `${dir}/link.html`);
    const viaLink = await heapscope(["report", `${dir}/good.json`, "--html", `${dir}/link.html`]);
    assertEquals(viaLink.code, 1, viaLink.stderr);
    assert(Deno.lstatSync(`${dir}/link.html`).isSymlink, "the link is still a link");
    assert(Deno.readTextFileSync(`${dir}/target.html`).startsWith("<!doctype html>"));
    // A FIFO is written in place while a reader reads it.
    const fifo = `${dir}/out.fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const reader = new Deno.Command("cat", { args: [fifo], stdout: "piped" }).output();
    const toFifo = await heapscope(["report", `${dir}/good.json`, "--html", fifo]);
    assertEquals(toFifo.code, 1, toFifo.stderr);
    assert(new TextDecoder().decode((await reader).stdout).startsWith("<!doctype html>"));
    assert(Deno.statSync(fifo).isFifo, "the FIFO is still a FIFO");
    // A directory is refused.
    const toDir = await heapscope(["report", `${dir}/good.json`, "--html", dir]);
    assertEquals(toDir.code, 2, toDir.stderr);
    assert(/is a directory/.test(toDir.stderr), toDir.stderr);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a failing heapscope <pid> leaves an existing leaks.json and report.html byte-identical", async () => {
  const text = await goodLeaks();
  const dir = Deno.makeTempDirSync({ prefix: "hs_bad_" });
  try {
    Deno.writeTextFileSync(`${dir}/leaks.json`, text);
    Deno.writeTextFileSync(`${dir}/report.html`, "<p>old report</p>");
    const before = names(dir);
    for (const pid of ["4194303", "1"]) {
      const run = await heapscope([
        pid,
        "--output",
        `${dir}/leaks.json`,
        "--html",
        `${dir}/report.html`,
      ]);
      assertEquals(run.code, 3, run.stderr);
      assertEquals(Deno.readTextFileSync(`${dir}/leaks.json`), text);
      assertEquals(Deno.readTextFileSync(`${dir}/report.html`), "<p>old report</p>");
      assertEquals(names(dir), before);
    }
    // An output folder that does not exist: exit 2 naming the file, the victim left alone.
    const { proc } = await startVictim();
    try {
      const run = await heapscope([String(proc.pid), "--output", `${dir}/no/leaks.json`]);
      assertEquals(run.code, 2, run.stderr);
      assert(run.stderr.includes(`Cannot write "${dir}/no/leaks.json"`), run.stderr);
      assert(/Hint:/.test(run.stderr) && !/\n\s+at /.test(run.stderr), run.stderr);
    } finally {
      await proc.stop();
    }
    assertEquals(names(dir), before);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SIGINT while heapscope writes leaks.json: exit 130, old file byte-identical, no temp file", async () => {
  const text = await goodLeaks();
  const dir = Deno.makeTempDirSync({ prefix: "hs_bad_" });
  // 300k blocks: writing leaks.json takes long enough to be interrupted while its temp file exists.
  const { proc } = await startVictim({ args: ["--blocks", "300000"], timeoutMs: 60_000 });
  try {
    Deno.writeTextFileSync(`${dir}/leaks.json`, text);
    const hs = startHeapscope([
      String(proc.pid),
      "--output",
      `${dir}/leaks.json`,
      "--html",
      `${dir}/report.html`,
      "--graph",
      "all",
      "--quiet",
    ]);
    const end = Date.now() + 120_000;
    let seen = "";
    while (!seen && Date.now() < end) {
      seen = names(dir).find((n) => n.includes("tmp")) ?? "";
      if (!seen) await new Promise((r) => setTimeout(r, 5));
    }
    assert(seen, "no temporary file appeared");
    hs.child.kill("SIGINT");
    const run = await hs.done;
    assertEquals([run.code, run.signal], [130, null], run.stderr);
    assertEquals(Deno.readTextFileSync(`${dir}/leaks.json`), text);
    assertEquals(names(dir), ["leaks.json"]);
  } finally {
    await proc.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});
