// formatCount: the hand-grouped integers against en-US, the rest left to toLocaleString.

import { equal } from "node:assert/strict";
import { formatCount } from "./format.ts";

Deno.test("formatCount() groups integers as en-US does", () => {
  const values = [0, 7, -7, 999, 1000, -1000, 12345, 999999, 1000000, 1240512, -98765432];
  values.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER);
  for (let i = 0; i < 200; i++) values.push(Math.floor((Math.random() - 0.5) * 10 ** (i % 16)));
  for (const v of values) equal(formatCount(v), v.toLocaleString("en-US"), String(v));
});

Deno.test("formatCount() leaves fractions and the non-finite to toLocaleString", () => {
  for (const v of [1234.5678, -0.25, Infinity, NaN, 2 ** 60]) {
    equal(formatCount(v), v.toLocaleString("en-US"));
  }
});
