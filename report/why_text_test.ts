// `heapscope why` on a block only weak evidence keeps: the path names the weak link, in a live
// analysis and in the leaks.json written from it (its edges' `weak`), on the hand-laid snapshot.

import { equal, match, ok } from "node:assert/strict";
import { analyzeHeap } from "../analysis/analyze.ts";
import { buildWeakHeld } from "../analysis/testdata/synthetic.ts";
import { NODE_STATUS } from "../analysis/types.ts";
import { Owners, pathFromRoot } from "../analysis/why.ts";
import { analysisWhyModel } from "../analysis/why_model.ts";
import { leaksJsonChunks } from "./leaks_json.ts";
import { leaksWhyModel } from "./leaks_why_model.ts";
import { parseLeaksText } from "./read_leaks.ts";
import { formatWhy } from "./why_text.ts";

/** A (reachable) holds a stale pointer to O at +0x20, with glibc's foot in its last word. */
function weakHeld() {
  const { snapshot, enumeration, at, names } = buildWeakHeld();
  const a = analyzeHeap(snapshot, enumeration);
  return { a, at, id: (n: string) => names.indexOf(n as "A") };
}

Deno.test("why names the weak link that keeps a possible block, live and from leaks.json", () => {
  const { a, at, id } = weakHeld();
  equal(NODE_STATUS[a.status[id("O")]!], "possible");
  const live = analysisWhyModel(a);
  const text = formatWhy(live, id("O"), new Owners(live)).join("\n");
  match(text, /: possible\n/);
  match(text, /shortest path from a root:/);
  match(text, /→ 0x[0-9a-f]+, 56 B \(pointer at \+0x20, weak: may be stale\)\n/, text);
  // The live analysis has A's bytes: the rule that made +0x20 weak (A ends with glibc's foot).
  match(text, /\n {6}weak: past \+0x20: the block ends with glibc's foot/, text);
  match(text, /If the weak word is stale, this block is leaked/);
  // K hangs off O by a strong pointer: only the step into O is weak.
  const k = formatWhy(live, id("K"), new Owners(live)).join("\n");
  equal(k.match(/weak: may be stale/g)?.length, 1, k);

  // Each chunk is valid until the next is asked for: decoded as it comes.
  const decoder = new TextDecoder();
  let json = "";
  for (const c of leaksJsonChunks(a, { graph: "all" })) json += decoder.decode(c, { stream: true });
  const file = parseLeaksText(json, "leaks.json");
  const weak = file.edges.filter((e) => e.weak);
  equal(weak.length, 1);
  const node = (address: number) => file.nodes.find((n) => parseInt(n.address, 16) === address)!;
  equal(weak[0]!.source, node(at.A!).id);
  equal(weak[0]!.target, node(at.O!).id);
  const saved = leaksWhyModel(file);
  const o = [...Array(saved.count).keys()].find((i) => saved.address(i) === at.O)!;
  const fromFile = formatWhy(saved, o, new Owners(saved)).join("\n");
  match(fromFile, /\+0x20, weak: may be stale\)/);
  // The rule came with the file (the node's weakLink, read while the copy was there).
  equal(node(at.O!).weakLink?.startsWith("past +0x20: the block ends with glibc's foot"), true);
  match(fromFile, /\n {6}weak: past \+0x20: the block ends with glibc's foot/, fromFile);
  // A file without it (an older writer): what a weak word is, in general.
  delete node(at.O!).weakLink;
  const older = leaksWhyModel(file);
  const general = formatWhy(older, o, new Owners(older)).join("\n");
  match(general, /a weak link is a word the program may never have written/);
});

Deno.test("the path into a reachable block takes a strong pointer where a weak one comes first", () => {
  const { a, id } = weakHeld();
  const live = analysisWhyModel(a);
  // A model where A's first reference to B is weak and a second one strong.
  const model = {
    ...live,
    references: (i: number) =>
      i === id("A")
        ? [{ node: id("B"), offset: 0x28, weak: true }, ...live.references(i)]
        : live.references(i),
  };
  const path = pathFromRoot(model, id("B"));
  equal(path.weakRoot, undefined);
  const last = path.steps.at(-1)!;
  equal(last.node, id("B"));
  equal(last.weak, undefined);
  ok(last.offset !== 0x28, `the strong pointer's offset, not the weak one's: ${last.offset}`);
});
