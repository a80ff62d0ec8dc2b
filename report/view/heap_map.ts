// The heap map, in the manner of Plan 9's leak -b: each pixel a few bytes of a zone, coloured by
// what those bytes are (a reachable block, a leaked one, a chunk header, free space).

import type { BlockIndex } from "./block_index.ts";

/** Pixel classes, in the order the viewer's palette lists them. */
export const MAP_CLASSES = [
  "free",
  "header",
  "reachable",
  "leaked",
  "cycle",
  "possible",
  "gap",
] as const;
export type MapClass = (typeof MAP_CLASSES)[number];

/** Bytes of malloc's chunk header before each block (glibc: prev_size and size, 2 × 8 bytes). */
const HEADER = 16;
/** A gap wider than this is not free space in the arena but address space between mappings. */
const BIG_GAP = 1 << 20;
/** Pixels a folded gap takes. */
const GAP_PIXELS = 3;

export interface HeapMap {
  zone: string;
  /** Bytes per pixel. */
  scale: number;
  width: number;
  height: number;
  /** MAP_CLASSES index per pixel, row-major. */
  pixels: Uint8Array;
  /** Block at each pixel (-1 for none), for picking. */
  blocks: Int32Array;
  /** Bytes of blocks, headers and free space the map covers, and the gaps folded. */
  span: number;
  gaps: number;
}

/**
 * The map of one zone: its blocks in address order, each drawn as its header then its bytes, the
 * space between consecutive blocks as free, and spaces over BIG_GAP folded into a short dark band.
 * The scale (bytes per pixel, a power of two) makes it fit in `width` × `maxHeight` pixels; a pixel
 * shared by several classes shows the most telling one (leaked over reachable over header over
 * free). O(blocks of the zone + pixels).
 */
export function selectHeapMap(
  index: BlockIndex,
  zone: string,
  width = 512,
  maxHeight = 256,
): HeapMap | null {
  const z = index.zones.indexOf(zone);
  if (z < 0) return null;
  const blocks: number[] = [];
  for (let b = 0; b < index.count; b++) if (index.zone[b] === z) blocks.push(b);
  if (blocks.length === 0) return null;
  blocks.sort((a, b) => index.address[a]! - index.address[b]!);
  // Layout in "map bytes": big gaps count as GAP_PIXELS × scale, which depends on the scale.
  let covered = 0, gaps = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    covered += HEADER + index.size[b]!;
    if (i > 0) {
      const prev = blocks[i - 1]!;
      const free = index.address[b]! - HEADER - (index.address[prev]! + index.size[prev]!);
      if (free > BIG_GAP) gaps++;
      else if (free > 0) covered += free;
    }
  }
  let scale = 1;
  while (Math.ceil((covered + gaps * GAP_PIXELS * scale) / scale / width) > maxHeight) scale *= 2;
  const total = Math.ceil((covered + gaps * GAP_PIXELS * scale) / scale);
  const height = Math.max(1, Math.ceil(total / width));
  const pixels = new Uint8Array(width * height); // 0 = free
  const owner = new Int32Array(width * height).fill(-1);
  const rank = [0, 1, 2, 5, 6, 4, 3]; // free < header < reachable < gap < possible < leaked < cycle
  const paint = (from: number, to: number, cls: number, block: number) => {
    // [from, to) in map bytes.
    const p0 = Math.floor(from / scale), p1 = Math.max(p0 + 1, Math.ceil(to / scale));
    for (let p = p0; p < p1 && p < pixels.length; p++) {
      if (rank[cls]! >= rank[pixels[p]!]!) {
        pixels[p] = cls;
        if (block >= 0) owner[p] = block;
      }
    }
  };
  const classOf = (b: number) => 2 + (index.flags[b]! & 3); // reachable, leaked, cycle, possible
  let at = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    if (i > 0) {
      const prev = blocks[i - 1]!;
      const free = index.address[b]! - HEADER - (index.address[prev]! + index.size[prev]!);
      if (free > BIG_GAP) {
        paint(at, at + GAP_PIXELS * scale, 6, -1);
        at += GAP_PIXELS * scale;
      } else if (free > 0) at += free; // already 0 = free
    }
    paint(at, at + HEADER, 1, b);
    at += HEADER;
    paint(at, at + index.size[b]!, classOf(b), b);
    at += index.size[b]!;
  }
  return { zone, scale, width, height, pixels, blocks: owner, span: covered, gaps };
}
