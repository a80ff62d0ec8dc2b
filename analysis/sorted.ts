// Searches over sorted keys: the one binary search that symbol tables, FDE tables, image lists and
// block columns all need ("the last entry starting at or below an address").
//
// The scan's and the memory image's own lookups keep their loops inline: they run once per block
// or word, where a call through `keyAt` costs more than the search.

/**
 * Index of the last of `count` ascending keys (`keyAt(i)`, ties allowed) that is ≤ `x`, or -1 when
 * every key is above `x` (or `count` is 0). With equal keys, the last of them. O(log count).
 */
export function lastAtOrBelow(count: number, keyAt: (i: number) => number, x: number): number {
  let lo = 0, hi = count - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (keyAt(mid) <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
