// Tests of readLeaksFile(): a valid file round-trips; each broken file fails naming the file and the problem.

import { deepStrictEqual as assertEquals, match, ok as assert, rejects } from "node:assert/strict";
import { LeaksFileError, parseLeaksText, readLeaksFile } from "./read_leaks.ts";
import { sampleLeaks } from "./sample_leaks.ts";

async function withFile(text: string, fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-read-" });
  const path = `${dir}/leaks.json`;
  await Deno.writeTextFile(path, text);
  try {
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function expectError(text: string, ...parts: (string | RegExp)[]) {
  await withFile(text, async (path) => {
    await rejects(readLeaksFile(path), (err: unknown) => {
      assert(err instanceof LeaksFileError, `LeaksFileError, got ${err}`);
      assert(err.message.startsWith(`Cannot read leaks file "${path}": `), err.message);
      const text = err.format(); // the message and its Hint: lines, as printed
      for (const part of parts) {
        assert(
          typeof part === "string" ? text.includes(part) : part.test(text),
          `${part} in ${text}`,
        );
      }
      return true;
    });
  });
}

const good = () => sampleLeaks({ allocations: 300, leakFraction: 0.2 });

Deno.test("readLeaksFile() reads a valid file unchanged", async () => {
  const leaks = good();
  await withFile(JSON.stringify(leaks), async (path) => {
    assertEquals(await readLeaksFile(path), leaks);
  });
});

Deno.test("readLeaksFile() accepts non-dense ids and the sample generator's output at scale", async () => {
  const leaks = good();
  const shift = (id: number) => id * 3 + 7;
  for (const n of leaks.nodes) n.id = shift(n.id);
  for (const e of leaks.edges) [e.source, e.target] = [shift(e.source), shift(e.target)];
  leaks.cycles = leaks.cycles.map((c) => c.map(shift));
  for (const r of leaks.roots) r.target = shift(r.target);
  await withFile(
    JSON.stringify(leaks),
    async (path) => assertEquals((await readLeaksFile(path)).nodes.length, 300),
  );
  await withFile(JSON.stringify(sampleLeaks({ allocations: 50_000 })), async (path) => {
    assertEquals((await readLeaksFile(path)).summary.allocations, 50_000);
  });
});

Deno.test("readLeaksFile() names a missing file", async () => {
  await rejects(readLeaksFile("/nonexistent/leaks.json"), (err: unknown) => {
    assert(err instanceof LeaksFileError);
    match(
      err.format(),
      /Cannot read leaks file "\/nonexistent\/leaks.json": the file does not exist\nHint: /,
    );
    return true;
  });
});

Deno.test("readLeaksFile() reports empty and truncated files", async () => {
  await expectError("", "the file is empty");
  const text = JSON.stringify(good());
  await expectError(text.slice(0, Math.floor(text.length / 2)), "the file is truncated", "Hint:");
  await expectError(text.slice(0, -1), "the file is truncated");
});

Deno.test("readLeaksFile() reports text that is not JSON", async () => {
  await expectError("<!doctype html><html>", "it is not JSON", "Hint: pass the leaks.json");
  await expectError("[1, 2]", "expected a JSON object, found an array");
});

Deno.test("readLeaksFile() reports wrong format and version", async () => {
  await expectError(
    JSON.stringify({ ...good(), format: "something-else" }),
    'wrong format "something-else", expected "heapscope-leaks"',
  );
  await expectError(
    JSON.stringify({ ...good(), version: 4 }),
    "unsupported version 4, expected one of 1, 2, 3",
    "written by a newer heapscope",
  );
  await expectError(JSON.stringify({ ...good(), version: undefined }), "unsupported version null");
});

Deno.test("readLeaksFile() reports missing or mistyped required fields", async () => {
  const { summary: _s, ...noSummary } = good();
  await expectError(JSON.stringify(noSummary), "field summary is missing, expected object");
  const badPid = good();
  (badPid.target as unknown as { pid: string }).pid = "12";
  await expectError(JSON.stringify(badPid), 'field target.pid is string "12", expected number');
  const badNode = good();
  delete (badNode.nodes[5] as { size?: number }).size;
  await expectError(JSON.stringify(badNode), "field nodes[5].size is missing, expected number");
  const badStatus = good();
  (badStatus.nodes[3] as unknown as { status: string }).status = "lost";
  await expectError(JSON.stringify(badStatus), 'field nodes[3].status is "lost"');
  const badAddress = good();
  badAddress.nodes[2]!.address = "12345";
  await expectError(
    JSON.stringify(badAddress),
    'field nodes[2].address is "12345", expected "0x" and hex digits',
  );
  const dup = good();
  dup.nodes[9]!.id = dup.nodes[8]!.id;
  await expectError(JSON.stringify(dup), "duplicate node id 8 at nodes[9]");
});

Deno.test("readLeaksFile() reports dangling node ids in edges, cycles and roots", async () => {
  const edge = good();
  edge.edges[4]!.target = 99999;
  await expectError(
    JSON.stringify(edge),
    "edges[4].target names node id 99999, which is not in nodes (dangling id)",
    "Hint:",
  );
  const cycle = good();
  cycle.cycles[0]!.push(-1);
  await expectError(
    JSON.stringify(cycle),
    "cycles[0] names node id -1, which is not in nodes (dangling id)",
  );
  const root = good();
  root.roots[0]!.target = 123456;
  await expectError(
    JSON.stringify(root),
    "roots[0].target names node id 123456, which is not in nodes (dangling id)",
  );
});

Deno.test("readLeaksFile() still reads version 1 files", () => {
  const v1 = parseLeaksText(JSON.stringify({ ...good(), version: 1 }), "old.json");
  assertEquals(v1.version, 1);
});
