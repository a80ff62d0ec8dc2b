// Which blocks leaks.json and the HTML report hold, by the size of the heap.

import { equal } from "node:assert/strict";
import { AUTO_GRAPH_LIMIT, reportGraph, resolveGraph } from "./pipeline.ts";
import { MAX_INDEX_BLOCKS } from "../report/view/block_index.ts";

Deno.test("--graph auto is every block up to its limit; the report follows leaks.json up to its index's cap", () => {
  equal(resolveGraph("auto", AUTO_GRAPH_LIMIT), "all");
  equal(resolveGraph("auto", AUTO_GRAPH_LIMIT + 1), "leaked");
  equal(resolveGraph("all", 10 * AUTO_GRAPH_LIMIT), "all");
  // The report is made from every block as long as its block index embeds them all.
  equal(reportGraph("all", MAX_INDEX_BLOCKS), "all");
  equal(reportGraph("all", MAX_INDEX_BLOCKS + 1), "leaked");
  equal(reportGraph("leaked", 10), "leaked");
  equal(reportGraph("all", 11, 10), "leaked");
});
