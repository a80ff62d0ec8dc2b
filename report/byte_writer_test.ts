// Tests for the byte writer's number, hex and text encoders against JSON.stringify and toString(16).
import { deepEqual as assertEquals } from "node:assert/strict";
import { ByteWriter } from "./byte_writer.ts";

function written(fill: (w: ByteWriter) => void): string {
  const w = new ByteWriter(64);
  fill(w);
  return new TextDecoder().decode(w.take());
}

const SAMPLES = [
  0,
  1,
  9,
  10,
  99,
  100,
  4294967295,
  4294967296,
  4294967297,
  9999999999,
  2 ** 47,
  0x7fff_ffff_ffff,
  0x5555_5555_9010,
  Number.MAX_SAFE_INTEGER,
  -1,
  -0,
  0.5,
  1e21,
  2 ** 60,
  NaN,
  Infinity,
];

Deno.test("ByteWriter.number() writes what JSON.stringify() writes", () => {
  const rnd = Array.from({ length: 2000 }, (_, i) => Math.floor(Math.random() * 2 ** (i % 54)));
  for (const n of [...SAMPLES, ...rnd]) {
    assertEquals(written((w) => w.number(n)), JSON.stringify(n));
  }
});

Deno.test("ByteWriter.hex() writes what Number#toString(16) writes", () => {
  const rnd = Array.from({ length: 2000 }, (_, i) => Math.floor(Math.random() * 2 ** (i % 54)));
  for (const n of [...SAMPLES, ...rnd]) assertEquals(written((w) => w.hex(n)), n.toString(16));
});

Deno.test("ByteWriter.text() and bytes() encode UTF-8 and grow past the capacity", () => {
  const s = "ü 🙂 \u2028 ".repeat(50);
  const out = written((w) => {
    w.text(s);
    w.bytes(new TextEncoder().encode(s));
    w.byte(0x7d);
  });
  assertEquals(out, s + s + "}");
});
