// Test helper: writes Go heap dump bytes record by record, as runtime/heapdump.go lays them out,
// for unit tests and fuzz seeds that need a record Go 1.19 never writes (otherroot) or exact shapes.

import { TAG } from "../types.ts";

export class DumpWriter {
  #out: number[] = [];

  constructor(header = "go1.7 heap dump\n") {
    this.#raw(new TextEncoder().encode(header));
  }

  uvarint(v: number): this {
    while (v >= 0x80) {
      this.#out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.#out.push(v);
    return this;
  }
  string(s: string): this {
    const b = new TextEncoder().encode(s);
    this.uvarint(b.length);
    return this.#raw(b);
  }
  /** A memory range of 8-byte little-endian words (bigint for values above 2^53). */
  memory(words: (number | bigint)[]): this {
    this.uvarint(words.length * 8);
    for (const w of words) {
      const v = BigInt(w);
      for (let i = 0n; i < 8n; i++) this.#out.push(Number((v >> (8n * i)) & 0xffn));
    }
    return this;
  }
  fields(offsets: number[]): this {
    for (const o of offsets) this.uvarint(1).uvarint(o);
    return this.uvarint(0);
  }

  params(heapStart = 0xc000000000, heapEnd = 0xc004000000): this {
    return this.uvarint(TAG.params).uvarint(0).uvarint(8).uvarint(heapStart).uvarint(heapEnd)
      .string("amd64").string("go1.19.8").uvarint(2);
  }
  type(address: number, size: number, name: string, indirect = true): this {
    return this.uvarint(TAG.type).uvarint(address).uvarint(size).string(name).uvarint(+indirect);
  }
  itab(address: number, type: number): this {
    return this.uvarint(TAG.itab).uvarint(address).uvarint(type);
  }
  /** An object of `words` 8-byte words; `pointers` are word indexes that hold pointers. */
  object(address: number, words: (number | bigint)[], pointers: number[]): this {
    this.uvarint(TAG.object).uvarint(address).memory(words);
    return this.fields(pointers.map((i) => i * 8));
  }
  otherRoot(description: string, pointer: number): this {
    return this.uvarint(TAG.otherRoot).string(description).uvarint(pointer);
  }
  goroutine(address: number, id: number, waitReason = "chan receive"): this {
    this.uvarint(TAG.goroutine).uvarint(address).uvarint(0xc000100000).uvarint(id).uvarint(0x401000)
      .uvarint(4).uvarint(0).uvarint(0).uvarint(0).string(waitReason);
    return this.uvarint(0).uvarint(0).uvarint(0).uvarint(0);
  }
  frame(sp: number, depth: number, fn: string, words: number[], pointers: number[]): this {
    this.uvarint(TAG.stackFrame).uvarint(sp).uvarint(depth).uvarint(0).memory(words);
    this.uvarint(0x401000).uvarint(0x401010).uvarint(0x401010).string(fn);
    return this.fields(pointers.map((i) => i * 8));
  }
  segment(kind: "data" | "bss", address: number, words: number[], pointers: number[]): this {
    this.uvarint(kind === "data" ? TAG.data : TAG.bss).uvarint(address).memory(words);
    return this.fields(pointers.map((i) => i * 8));
  }
  finalizer(object: number, funcVal = 0x4ab648, queued = false): this {
    this.uvarint(queued ? TAG.queuedFinalizer : TAG.finalizer).uvarint(object).uvarint(funcVal);
    return this.uvarint(0x48a140).uvarint(0x48fb40).uvarint(0x48fb40);
  }
  osThread(address: number, id: number, tid: number): this {
    return this.uvarint(TAG.osThread).uvarint(address).uvarint(id).uvarint(tid);
  }
  memStats(): this {
    this.uvarint(TAG.memStats);
    for (let i = 0; i < 24 + 256; i++) this.uvarint(i);
    return this.uvarint(7);
  }
  defer(address: number, g: number): this {
    return this.uvarint(TAG.defer).uvarint(address).uvarint(g).uvarint(0xc000100000)
      .uvarint(0x48a199).uvarint(0x4ab648).uvarint(0x48a140).uvarint(0);
  }
  panic(address: number, g: number): this {
    return this.uvarint(TAG.panic).uvarint(address).uvarint(g).uvarint(0x492940)
      .uvarint(0x4c3ed0).uvarint(0).uvarint(0);
  }
  memProf(bucket: number): this {
    this.uvarint(TAG.memProf).uvarint(bucket).uvarint(64).uvarint(1);
    return this.string("main.main").string("/src/main.go").uvarint(42).uvarint(3).uvarint(1);
  }
  allocSample(address: number, bucket: number): this {
    return this.uvarint(TAG.allocSample).uvarint(address).uvarint(bucket);
  }
  eof(): this {
    return this.uvarint(TAG.eof);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.#out);
  }
  #raw(b: Uint8Array): this {
    for (const x of b) this.#out.push(x);
    return this;
  }
}

/** Heap addresses of the sample dump. */
export const SAMPLE = {
  global: 0xc000010000, // kept by the bss word (main.registry)
  child: 0xc000010020, // kept by global
  onStack: 0xc000010040, // kept by a frame of main.holder
  cycleA: 0xc000010060, // finalizer, cycle with cycleB
  cycleB: 0xc000010080,
  keptByCycle: 0xc0000100a0, // only cycleB points to it
  finalized: 0xc0000100c0, // unreachable with a finalizer: waits for it, then freed
  garbage: 0xc0000100e0, // unreachable
  queued: 0xc000010100, // in the finalizer queue
  other: 0xc000010120, // kept by an other-root record
  bss: 0x53c320,
  itab: 0x4c4388,
  type: 0x496a00,
};

/** A dump with every record kind, and shapes of every Go liveness state. */
export function sampleDump(): Uint8Array {
  const s = SAMPLE;
  return new DumpWriter()
    .params()
    .type(s.type, 32, "*main.Item")
    .itab(s.itab, s.type)
    // objects out of address order, as Go writes spans
    .object(s.cycleA, [0xcaffe14e00000003n, s.cycleB, 0, 0], [1])
    .object(s.cycleB, [0xcaffe14e00000003n, s.cycleA, s.keptByCycle, 0], [1, 2])
    .object(s.keptByCycle, [1, 2, 3, 4], [])
    .object(s.global, [0xcaffe14e00000001n, s.itab, s.child, 0], [1, 2, 3])
    .object(s.child, [0xcaffe14e00000002n, 0, 0, 0], [])
    .object(s.onStack, [0, 0, 0, 0], [])
    .object(s.finalized, [0, s.garbage + 8, 0, 0], [1])
    .object(s.garbage, [0, 0, 0, 0], [])
    .object(s.queued, [0, 0, 0, 0], [])
    .object(s.other, [0, 0, 0, 0], [])
    .goroutine(0xc0000061a0, 1)
    .frame(0xc000100000, 0, "main.holder", [0, s.onStack + 16, 0], [1, 2])
    .defer(0xc00008a050, 0xc0000061a0)
    .panic(0xc00003c740, 0xc0000061a0)
    .osThread(0xc000080000, 0, 4242)
    .segment("data", 0x5348c0, [0, 0x401000], [1])
    .segment("bss", s.bss, [0, s.global, 0], [0, 1, 2])
    .otherRoot("runtime.something", s.other)
    .finalizer(s.cycleA)
    .finalizer(s.finalized)
    .finalizer(s.queued, 0x4ab658, true)
    .memStats()
    .memProf(0x7f0000001000)
    .allocSample(s.global, 0x7f0000001000)
    .eof()
    .bytes();
}
