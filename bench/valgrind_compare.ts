// Per allocation site, heapscope's leaked blocks next to valgrind memcheck's loss records.
//
//   deno run -A bench/valgrind_compare.ts <valgrind log> <leaks.json> <source file name>…
//
// A site is keyed by the innermost frame in one of the named source files ("sessions.cpp:49"):
// valgrind and heapscope demangle differently, but file and line agree. The leaks.json must come
// from a recorded process (heapscope run, or heapscope <pid> of one) to have stacks. Prints one
// line per site where the counts differ, and the totals; exit 1 when any site differs.
//
// A site agrees when heapscope's leaked count is valgrind's lost count, or lies between it and
// lost + possibly lost ("~"): a block valgrind calls possibly lost is one only an interior word
// reaches, in valgrind's run of the program, whose allocator lays memory out its own way (libxml2,
// whose dictionary hash is seeded from the clock: a stale word in one run of 11 keeps a lost
// document "possibly" lost under valgrind). heapscope's leaked count is never above that range.

interface Frame {
  fn?: string;
  file?: string;
  line?: number;
}

/** valgrind's text loss records: kind, blocks, frames (innermost first). O(lines). */
export function parseValgrind(text: string): { kind: string; blocks: number; frames: Frame[] }[] {
  const out: { kind: string; blocks: number; frames: Frame[] }[] = [];
  let cur: { kind: string; blocks: number; frames: Frame[] } | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^==\d+==\s?/, "");
    const rec = /in ([\d,]+) (?:\(\+[\d,]+\) )?blocks are (definitely|indirectly|possibly) lost/
      .exec(line);
    if (rec) {
      cur = { kind: rec[2]!, blocks: Number(rec[1]!.replaceAll(",", "")), frames: [] };
      out.push(cur);
      continue;
    }
    const fr = /^\s+(?:at|by) 0x[0-9A-F]+: (.*?)(?: \((?:in )?([^():]+)(?::(\d+))?\))?$/.exec(line);
    if (cur && fr) {
      cur.frames.push({
        fn: fr[1],
        file: fr[2]?.split("/").pop(),
        line: fr[3] ? Number(fr[3]) : undefined,
      });
    } else if (line.trim() === "") cur = undefined;
  }
  return out;
}

function keyOf(frames: Frame[], sources: Set<string>): string {
  const f = frames.find((f) => f.file && sources.has(f.file.split("/").pop()!));
  return f ? `${f.file!.split("/").pop()}:${f.line}` : "(no frame in the sources)";
}

if (import.meta.main) {
  const [log, json, ...files] = Deno.args;
  if (!log || !json || files.length === 0) {
    console.error("usage: valgrind_compare.ts <valgrind log> <leaks.json> <source file>…");
    Deno.exit(2);
  }
  const sources = new Set(files.map((f) => f.split("/").pop()!));
  const vg = new Map<string, { lost: number; possibly: number }>();
  for (const r of parseValgrind(await Deno.readTextFile(log))) {
    const k = keyOf(r.frames, sources);
    const v = vg.get(k) ?? { lost: 0, possibly: 0 };
    if (r.kind === "possibly") v.possibly += r.blocks;
    else v.lost += r.blocks;
    vg.set(k, v);
  }
  const leaks = JSON.parse(await Deno.readTextFile(json));
  const hs = new Map<string, { leaked: number; possible: number }>();
  for (const n of leaks.nodes) {
    if (n.status === "reachable") continue;
    const frames: Frame[] = (n.site !== undefined ? leaks.stacks[n.site] : [])
      .map((f: { function?: string; file?: string; line?: number }) => ({
        fn: f.function,
        file: f.file,
        line: f.line,
      }));
    const k = keyOf(frames, sources);
    const h = hs.get(k) ?? { leaked: 0, possible: 0 };
    if (n.status === "possible") h.possible++;
    else h.leaked++;
    hs.set(k, h);
  }
  let differ = 0;
  const keys = [...new Set([...vg.keys(), ...hs.keys()])].sort();
  for (const k of keys) {
    const v = vg.get(k) ?? { lost: 0, possibly: 0 }, h = hs.get(k) ?? { leaked: 0, possible: 0 };
    const exact = v.lost === h.leaked;
    const same = exact || (h.leaked > v.lost && h.leaked <= v.lost + v.possibly);
    if (!same) differ++;
    console.log(
      `${exact ? " " : same ? "~" : "≠"} ${k.padEnd(28)} valgrind ${
        String(v.lost).padStart(5)
      } (+${v.possibly})` +
        `   heapscope ${String(h.leaked).padStart(5)} (+${h.possible})`,
    );
  }
  const sum = <T>(m: Map<string, T>, f: (t: T) => number) =>
    [...m.values()].reduce((s, t) => s + f(t), 0);
  console.log(
    `total: valgrind ${sum(vg, (v) => v.lost)} (+${sum(vg, (v) => v.possibly)} possibly), ` +
      `heapscope ${sum(hs, (h) => h.leaked)} (+${sum(hs, (h) => h.possible)} possible); ` +
      `${differ} site(s) differ`,
  );
  Deno.exit(differ ? 1 : 0);
}
