// Three real captures of victim/grow under the recorder around known growth (400 cache entries and
// 20 leaks between the first and the second, 100 more entries before the third): the leaks.json
// files that the diff, its HTML comparison and the comparison selector's tests compare.

import { ok } from "node:assert/strict";
import { spawnProcess } from "./truth.ts";
import { built, heapscope, RECORDER, said } from "./cli_runs.ts";
import { ROOT } from "./truth.ts";

export const GROW = `${ROOT}/build/victim/grow`;

/** Cache entries added between the first and second capture, and between the second and third. */
export const GROWN = 400;
export const GROWN_AFTER = 100;
/** 72-byte blocks leaked between the first and the second capture (leak_some). */
export const LEAKED = 20;

export interface GrowCaptures {
  pid: number;
  /** Paths of the three leaks.json files (every block written: --graph all). */
  a: string;
  b: string;
  c: string;
  /** The second capture again, with the leaks suppressed by `leak:leak_some` (when asked). */
  bKnown?: string;
}

/**
 * Run build/victim/grow under the recorder and capture it with `./heapscope <pid>` into `dir`:
 * a.json, then (after growth and leaks) b.json (and b-known.json with a suppressions file), then
 * (after more growth) c.json. The program is stopped afterwards.
 */
export async function captureGrow(
  dir: string,
  opts: { known?: boolean } = {},
): Promise<GrowCaptures> {
  built(GROW, "victim");
  built(RECORDER, "recorder");
  const proc = spawnProcess([GROW], { env: { LD_PRELOAD: RECORDER } });
  try {
    await proc.waitForLine((l) => l === "READY");
    const capture = async (name: string, ...extra: string[]) => {
      const r = await heapscope([String(proc.pid), "-o", `${dir}/${name}`, "--graph", "all", "-q"]
        .concat(extra));
      ok(r.code === 0 || r.code === 1, said(r));
      return `${dir}/${name}`;
    };
    const command = async (line: string, reply: string) => {
      await proc.writeStdin(line + "\n");
      await proc.waitForLine((l) => l.startsWith(reply));
    };
    const a = await capture("a.json");
    await command(`grow ${GROWN}`, "GREW");
    await command(`leak ${LEAKED}`, "LEAKED");
    const b = await capture("b.json");
    let bKnown: string | undefined;
    if (opts.known) {
      await Deno.writeTextFile(`${dir}/known.supp`, "leak:leak_some\n");
      bKnown = await capture("b-known.json", "--suppressions", `${dir}/known.supp`);
    }
    await command(`grow ${GROWN_AFTER}`, "GREW");
    const c = await capture("c.json");
    return { pid: proc.pid, a, b, c, ...(bKnown ? { bKnown } : {}) };
  } finally {
    await proc.stop();
  }
}
