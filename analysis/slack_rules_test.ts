// The reason `why` gives for a weak word: each rule of slackWords, and a pool's spare part when
// none of the block's own rules covers the word.

import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  cStringLength,
  footedLive,
  ownRulesApply,
  pointsIntoRegions,
  textLive,
  typedTails,
  weakReason,
} from "./slack_rules.ts";

/** The first bytes of a block and its last word, as weakReason reads them. */
function block(size: number, fill: (v: DataView) => void): { head: Uint8Array; last: number } {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  fill(v);
  return { head: b, last: size >= 16 ? Number(v.getBigUint64(size - 8, true)) : -1 };
}

Deno.test("weakReason() names the rule that makes a word weak", () => {
  const none = () => false; // no mapping: no first word is a pointer
  // 88 usable bytes ending with glibc's foot (the chunk's size, 96): weak from footedLive(88).
  const footed = block(88, (v) => v.setBigUint64(80, 96n, true));
  equal(footedLive(88), 64);
  match(
    weakReason(88, footed.head, footed.last, 64, none),
    /^past \+0x40: the block ends with glibc's foot/,
  );
  // Below the foot's bound the word is live by that rule: what else covers it (a pool).
  match(weakReason(88, footed.head, footed.last, 56, none), /bump pool/);
  // An mmapped chunk or a recorded size: the block's own rules do not apply, only a pool's.
  match(weakReason(88, footed.head, footed.last, 80, undefined), /bump pool/);
  // A block that starts with "abcdef" and its NUL: weak from the NUL's word on.
  const text = block(24, (v) => [..."abcdef"].forEach((c, i) => v.setUint8(i, c.charCodeAt(0))));
  equal(cStringLength(text.head), 6);
  equal(textLive(6), 0);
  match(
    weakReason(24, text.head, text.last, 8, none),
    /^past the C string the block starts with \(its NUL at \+0x6\)/,
  );
  // Two printable bytes are no string ('A' then zeros is a small integer): the last word's rule.
  const small = block(24, (v) => v.setUint16(0, 0x4141, true));
  equal(
    weakReason(24, small.head, small.last, 16, none),
    "the block's last word: malloc's slack, unless all 24 bytes were asked for",
  );
  match(weakReason(24, small.head, small.last, 8, none), /bump pool/);
});

Deno.test("weakReason() reads the rules' preconditions as slackWords does", () => {
  // A first word whose bytes look like text ("AAAAAAA" and a zero top byte) but that points into
  // a mapping is a pointer: the block is no string, its last word is what is weak.
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, 0x0041_4141_4141_4141n, true);
  const mapped = pointsIntoRegions([{ start: 0x0041_4141_0000_0000, end: 0x0041_4142_0000_0000 }]);
  equal(mapped(0x0041_4141_4141_4141), true);
  equal(mapped(0x1000), false);
  match(weakReason(24, b, 0, 16, () => false), /^past the C string/);
  equal(
    weakReason(24, b, 0, 16, mapped),
    "the block's last word: malloc's slack, unless all 24 bytes were asked for",
  );
  // Mmapped chunks and recorded sizes: not the block's own rules.
  equal(ownRulesApply(0, 1), true);
  equal(ownRulesApply(1, 1), false);
  equal(ownRulesApply(0, 1, 24), false);
  equal(ownRulesApply(0, 1, -1), true);
});

Deno.test("typedTails(): a typed group's last word is a field when nearly all point from it, else slack", () => {
  // 21 blocks of 72 B: 0-10 type 0 (block 3 under a C string's rule; of the other 10, 9 point
  // from their last word: 90 %), 11-20 type 1 (5 of 10).
  const n = 21, sizes = new Float64Array(n).fill(72);
  const weakFrom = new Uint32Array(n).fill(64);
  weakFrom[3] = 40;
  const type = (i: number) => (i <= 10 ? 0 : 1);
  const points = (i: number) => (i <= 10 ? i !== 10 : i % 2 === 0);
  equal(typedTails(n, type, sizes, weakFrom, points), 10);
  deepEqual([...weakFrom.slice(0, 11)], [72, 72, 72, 40, 72, 72, 72, 72, 72, 72, 72]);
  ok(weakFrom.slice(11).every((w) => w === 64), "half the group: slack stays weak");
  // 8 of 10 (80 %): weak.
  const most = new Uint32Array(10).fill(64);
  equal(typedTails(10, () => 0, new Float64Array(10).fill(72), most, (i) => i < 8), 0);
  // Too few blocks (7) to tell: weak.
  const few = new Uint32Array(7).fill(64);
  equal(typedTails(7, () => 0, new Float64Array(7).fill(72), few, () => true), 0);
  // Untyped blocks are never changed.
  const untyped = new Uint32Array(10).fill(64);
  equal(typedTails(10, () => -1, new Float64Array(10).fill(72), untyped, () => true), 0);
});
