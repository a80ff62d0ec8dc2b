// AllocationTable: the enumerated allocations as columns (typed arrays), not one object per block.
//
// At 10^6 blocks an `Allocation` object costs ~96 bytes of V8 heap (object, boxed double, string
// pointer); the columns cost 18 bytes per block (address and size as doubles, zone as a 16-bit
// index into `zones`). `at(i)` builds an object for the few callers that want one. O(1) accessors.

import type { Allocation } from "./types.ts";

export class AllocationTable {
  /** Number of blocks. */
  readonly length: number;
  /** Addresses (what malloc returned), sorted ascending. */
  readonly addresses: Float64Array;
  /** Usable sizes. */
  readonly sizes: Float64Array;
  /** Index into `zones` of each block's zone. */
  readonly zoneIds: Uint16Array;
  /** Zone names ("main-arena", "arena 0x..", "mmap", a malloc zone name). */
  readonly zones: readonly string[];

  constructor(
    addresses: Float64Array,
    sizes: Float64Array,
    zoneIds: Uint16Array,
    zones: readonly string[],
  ) {
    if (sizes.length !== addresses.length || zoneIds.length !== addresses.length) {
      throw new Error(
        `AllocationTable columns differ in length: ${addresses.length}, ${sizes.length}, ${zoneIds.length}`,
      );
    }
    this.length = addresses.length;
    this.addresses = addresses;
    this.sizes = sizes;
    this.zoneIds = zoneIds;
    this.zones = zones;
  }

  /** A table of `allocations` in the given order. O(n). */
  static from(allocations: readonly Allocation[]): AllocationTable {
    const b = new AllocationTableBuilder(allocations.length);
    for (const a of allocations) b.push(a.address, a.size, a.zone);
    return b.finish();
  }

  address(i: number): number {
    return this.addresses[i]!;
  }

  size(i: number): number {
    return this.sizes[i]!;
  }

  zone(i: number): string {
    return this.zones[this.zoneIds[i]!]!;
  }

  /** Block `i` as an object (allocates: not for loops over every block). */
  at(i: number): Allocation {
    return { address: this.addresses[i]!, size: this.sizes[i]!, zone: this.zone(i) };
  }

  /** Every block as an object (tests, small heaps). */
  toArray(): Allocation[] {
    const out: Allocation[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.at(i);
    return out;
  }

  *[Symbol.iterator](): Generator<Allocation> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
}

/** Appends blocks to growing columns; `finish()` trims them. Zone names are interned. */
export class AllocationTableBuilder {
  #addresses: Float64Array;
  #sizes: Float64Array;
  #zoneIds: Uint16Array;
  #zones: string[] = [];
  #zoneId = new Map<string, number>();
  #n = 0;

  constructor(capacity = 1024) {
    const cap = Math.max(16, capacity);
    this.#addresses = new Float64Array(cap);
    this.#sizes = new Float64Array(cap);
    this.#zoneIds = new Uint16Array(cap);
  }

  push(address: number, size: number, zone: string): void {
    if (this.#n === this.#addresses.length) this.#grow();
    let z = this.#zoneId.get(zone);
    if (z === undefined) {
      if (this.#zones.length === 65536) throw new Error(`More than 65536 zones: "${zone}"`);
      z = this.#zones.push(zone) - 1;
      this.#zoneId.set(zone, z);
    }
    const i = this.#n++;
    this.#addresses[i] = address;
    this.#sizes[i] = size;
    this.#zoneIds[i] = z;
  }

  finish(): AllocationTable {
    const n = this.#n;
    // Trimmed copies, so the slack of the growing columns is not kept.
    const exact = n === this.#addresses.length;
    return new AllocationTable(
      exact ? this.#addresses : this.#addresses.slice(0, n),
      exact ? this.#sizes : this.#sizes.slice(0, n),
      exact ? this.#zoneIds : this.#zoneIds.slice(0, n),
      this.#zones,
    );
  }

  #grow(): void {
    const cap = Math.ceil(this.#addresses.length * 1.5);
    const a = new Float64Array(cap), s = new Float64Array(cap), z = new Uint16Array(cap);
    a.set(this.#addresses);
    s.set(this.#sizes);
    z.set(this.#zoneIds);
    this.#addresses = a;
    this.#sizes = s;
    this.#zoneIds = z;
  }
}
