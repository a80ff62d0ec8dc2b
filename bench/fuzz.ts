// Long fuzz run of every parser of target memory: `deno run -A bench/fuzz.ts --seconds 300 --seed N`.
//
// Options: --seconds S (total, split over the targets), --seed N (base seed), --target T (one of
// analysis/testdata/fuzz_targets.ts TARGETS, repeatable; default all), --workers W, --replay SEED
// (re-run one seed of --target and print its mutations and outcome). Prints inputs/s and the tally
// per target; exits 1 on any crash, hang or broken invariant.

import { parseArgs } from "node:util";
import { formatTally, fuzz } from "../analysis/testdata/fuzz_harness.ts";
import { runInput, type Target, TARGETS } from "../analysis/testdata/fuzz_targets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "300" },
    seed: { type: "string", default: "1" },
    target: { type: "string", multiple: true },
    workers: { type: "string", default: "2" },
    replay: { type: "string" },
    "timeout-ms": { type: "string", default: "2000" },
  },
  strict: true,
});
const targets = (values.target ?? [...TARGETS]) as Target[];
for (const t of targets) {
  if (!TARGETS.includes(t)) {
    throw new Error(`Unknown target "${t}": expected one of ${TARGETS.join(", ")}`);
  }
}

if (values.replay !== undefined) {
  for (const t of targets) {
    const seed = Number(values.replay);
    const t0 = performance.now();
    const o = runInput(t, seed);
    console.log(`${t} seed ${seed}: ${o.kind} in ${(performance.now() - t0).toFixed(1)} ms`);
    if (o.detail) console.log(`  ${o.detail}`);
    for (const op of o.ops ?? []) console.log(`  - ${op}`);
  }
  Deno.exit(0);
}

const seconds = Number(values.seconds), seed = Number(values.seed);
let bad = 0;
for (const target of targets) {
  const t = await fuzz({
    target,
    baseSeed: seed,
    seconds: seconds / targets.length,
    workers: Number(values.workers),
    timeoutMs: Number(values["timeout-ms"]),
  });
  console.log(formatTally(t));
  for (const [k, n] of [...t.rejections].sort((a, b) => b[1] - a[1]).slice(0, 5)) {
    console.log(`    rejected ${n}× ${k}`);
  }
  for (const f of t.failures) {
    console.log(`  ${f.kind} seed ${f.seed}: ${f.detail}`);
    console.log(`    replay: deno run -A bench/fuzz.ts --target ${target} --replay ${f.seed}`);
  }
  bad += t.crashes + t.hangs + t.invariants;
}
Deno.exit(bad === 0 ? 0 : 1);
