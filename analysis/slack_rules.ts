// The rules by which a word of a block is weak evidence when the requested size is unknown
// (slackWords in analysis/analyze.ts applies them to every block, shim/recognise_kernel.c's
// slack() is its twin), and the reason `why` gives for one weak word, read from the same rules.

import { WEAK_FROM_MAX } from "./containers.ts";

/**
 * The bytes that surely hold live data in a block of usable size U ≥ 56 whose last word is its
 * chunk's size C = U + 8. That word is glibc's foot: a free chunk in a bin writes its size into
 * its successor's prev_size, which lies in the last word of this block's usable bytes, and malloc
 * leaves it as it was. Such a chunk came whole from a bin, and glibc hands out a free chunk whole
 * also for a request that needs C − 16 bytes (a 16-byte remainder is too small to split): the
 * request may then be as small as C − 39 bytes, and the words past it keep the chunk's earlier
 * life. Seen in libxml2: a dictionary entry (32 bytes asked) in a 64-byte chunk kept a stale
 * pointer at +0x20 into a lost document. Not for U = 40: given whole for the 32-byte minimum
 * chunk, the request may be anything up to 24 bytes, and a 24-byte node (OpenSSL's lhash in
 * nginx) uses all of it: its pointers would turn weak.
 */
export function footedLive(size: number): number {
  return Math.ceil((size - 31) / 8) * 8;
}

/** Whether the block's last word is glibc's foot (see footedLive). */
export function endsWithFoot(size: number, lastWord: number): boolean {
  return size >= 56 && lastWord === size + 8;
}

/**
 * Fewest printable bytes before a NUL for a block to count as a C string: a struct whose first
 * field is a small integer in the printable range ('A' = 65, then zero bytes) must not.
 */
export const MIN_TEXT = 3;

/** Bytes of a block looked at for a C string at its start. */
export const TEXT_SCAN = 256;

/** ASCII text, tab, newline, CR (UTF-8's high bytes are left out: pointers are full of them). */
export function printableByte(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13;
}

/** Length of the C string at the start of `bytes` (printable bytes, then a NUL), else -1. */
export function cStringLength(bytes: Uint8Array): number {
  for (let k = 0; k < bytes.length; k++) {
    const c = bytes[k]!;
    if (c === 0) return k;
    if (!printableByte(c)) return -1;
  }
  return -1;
}

/** The live bytes of a block that starts with a C string of `text` bytes: up to its NUL's word. */
export function textLive(text: number): number {
  return Math.floor((text + 1) / 8) * 8;
}

/**
 * Whether the block's own rules apply to it: not to an mmapped chunk (fresh from the kernel) nor
 * to a block whose requested size a recorder gave (`requested` ≥ 0).
 */
export function ownRulesApply(zone: number, mmapZone: number, requested = -1): boolean {
  return zone !== mmapZone && !(requested >= 0);
}

/**
 * Whether a value points into one of `regions` (sorted, disjoint): a first word that does is a
 * pointer, whatever its bytes look like, and its block is no C string. O(log regions) a call.
 */
export function pointsIntoRegions(
  regions: readonly { start: number; end: number }[],
): (v: number) => boolean {
  const starts = regions.map((r) => r.start), ends = regions.map((r) => r.end);
  return (v) => {
    let lo = 0, hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (v < starts[mid]!) hi = mid - 1;
      else if (v >= ends[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  };
}

/**
 * Why the word at `offset` of a block of `size` usable bytes is weak evidence, from its first
 * bytes (`head`, up to TEXT_SCAN) and its last word, by the rules slackWords applies: the one
 * that covers the offset, the most specific first; a bump pool's spare part when none of the
 * block's own rules does (what a {free, end} pair elsewhere says). `mapped` is slackWords'
 * test of the first word (pointsIntoRegions); undefined when the block's own rules do not apply
 * to it (ownRulesApply).
 */
export function weakReason(
  size: number,
  head: Uint8Array,
  last: number,
  offset: number,
  mapped: ((v: number) => boolean) | undefined,
): string {
  if (!mapped) return POOL_REASON;
  if (endsWithFoot(size, last) && offset >= footedLive(size)) {
    return `past +0x${footedLive(size).toString(16)}: the block ends with glibc's foot (its ` +
      "chunk's size), so glibc handed the chunk out whole, maybe for a request up to 39 bytes " +
      "smaller";
  }
  const text = cStringLength(head.subarray(0, Math.min(size, TEXT_SCAN)));
  const first = head.length >= 8
    ? Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true))
    : 0;
  if (text >= MIN_TEXT && !mapped(first) && offset >= textLive(text)) {
    return `past the C string the block starts with (its NUL at +0x${text.toString(16)}): ` +
      "a string block is asked for the string's length";
  }
  if (size >= 16 && offset >= size - 8) {
    return `the block's last word: malloc's slack, unless all ${size} bytes were asked for`;
  }
  return POOL_REASON;
}

const POOL_REASON = "the spare part of what looks like a bump pool: a pointer pair {free, end} " +
  "elsewhere points into this block, and this word lies past `free`";

/** A few words for a weakReason() text, for a count per rule ("4 malloc's slack"). */
export function weakRuleLabel(reason: string): string {
  if (reason.includes("glibc's foot")) return "past glibc's foot";
  if (reason.startsWith("past the C string")) return "past a C string's NUL";
  if (reason.startsWith("the block's last word")) return "malloc's slack";
  if (reason === POOL_REASON) return "a bump pool's spare part";
  return "a weak word";
}

/** A typed group (one type, one size) whose last word this share of blocks points into a block… */
const TAIL_FIELD_SHARE = 0.9;
/** …and at least this many blocks: then that word is a field of the type, not malloc's slack. */
const TAIL_FIELD_MIN = 8;

/**
 * Make the last word strong again in the typed blocks whose type ends with a pointer. The
 * last-word rule (slackWords) holds for a block of usable size U whose request may have been
 * U − 8 or less; but the blocks of one type and size share one layout, and where at least 90 % of
 * eight or more point into a block from their last word, that word is a field (a std::map node
 * whose value is a pointer, of 72 bytes: 2,930 live blocks were "possible" under one program's
 * map). Stale slack leaves a random share of pointers, not nearly all. Only blocks whose weak
 * words start at their last word change (`weakFrom[i]` = U − 8 → U); `type(i)` is -1 unknown.
 * O(typed blocks · log blocks). Returns how many blocks changed.
 */
export function typedTails(
  n: number,
  type: (i: number) => number,
  sizes: Float64Array,
  weakFrom: Uint32Array,
  lastPointsIntoBlock: (i: number) => boolean,
): number {
  const groups = new Map<number, { blocks: number; pointers: number }>();
  const key = (t: number, size: number) => t * 4294967296 + size;
  const tailRuled = (i: number) =>
    sizes[i]! >= 16 && weakFrom[i] === Math.min(sizes[i]! - 8, WEAK_FROM_MAX);
  for (let i = 0; i < n; i++) {
    const t = type(i);
    if (t < 0 || !tailRuled(i)) continue;
    const k = key(t, sizes[i]!);
    let g = groups.get(k);
    if (!g) groups.set(k, g = { blocks: 0, pointers: 0 });
    g.blocks++;
    if (lastPointsIntoBlock(i)) g.pointers++;
  }
  let changed = 0;
  for (let i = 0; i < n; i++) {
    const t = type(i);
    if (t < 0 || !tailRuled(i)) continue;
    const g = groups.get(key(t, sizes[i]!))!;
    if (g.blocks < TAIL_FIELD_MIN || g.pointers < TAIL_FIELD_SHARE * g.blocks) continue;
    weakFrom[i] = Math.min(sizes[i]!, WEAK_FROM_MAX);
    changed++;
  }
  return changed;
}
