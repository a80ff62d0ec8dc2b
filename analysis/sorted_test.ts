import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { lastAtOrBelow } from "./sorted.ts";

Deno.test("lastAtOrBelow(): empty, below the first, on a key, between keys, past the last", () => {
  const keys = [10, 20, 30];
  const at = (x: number) => lastAtOrBelow(keys.length, (i) => keys[i]!, x);
  assertEquals(lastAtOrBelow(0, () => 0, 5), -1);
  assertEquals(at(9), -1);
  assertEquals(at(10), 0);
  assertEquals(at(19), 0);
  assertEquals(at(20), 1);
  assertEquals(at(29.5), 1);
  assertEquals(at(30), 2);
  assertEquals(at(2 ** 53), 2);
});

Deno.test("lastAtOrBelow() = the linear search on random sorted keys with repeats", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const n = rand(40);
    const keys = Array.from({ length: n }, () => rand(50)).sort((a, b) => a - b);
    for (let x = -1; x <= 51; x++) {
      let expected = -1;
      for (let i = 0; i < n; i++) if (keys[i]! <= x) expected = i;
      assertEquals(lastAtOrBelow(n, (i) => keys[i]!, x), expected, `${keys} at ${x}`);
    }
  }
});
