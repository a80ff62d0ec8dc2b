// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Finds libc's `tcache` TLS slot offset from tp using symbols: tp − l_tls_offset(libc) + st_value.
//
// O(loaded objects): walks the r_debug link_map list once.

import type { MemoryImage } from "../../../memory.ts";
import type { Image } from "../../../types.ts";

/**
 * The tp-relative offset of libc's `tcache` variable (x86_64, TLS variant II), when libc carries
 * `tls:tcache` (raw st_value) and `_thread_db_link_map_l_tls_offset`, and some image carries
 * `_r_debug`; else undefined. libc's link_map is the one whose l_addr is libc's load bias.
 */
export function tcacheTlsOffset(
  mem: MemoryImage,
  images: Image[],
  libc: Image | undefined,
): number | undefined {
  const value = libc?.symbols?.["tls:tcache"];
  const desc = libc?.symbols?.["_thread_db_link_map_l_tls_offset"];
  const rDebug = images.map((i) => i.symbols?.["_r_debug"]).find((s) => s !== undefined);
  if (libc === undefined || value === undefined || desc === undefined || rDebug === undefined) {
    return undefined;
  }
  const bits = mem.u32(desc), fieldOffset = mem.u32(desc + 8);
  if (bits !== 64 || fieldOffset === undefined || fieldOffset > 0x10000) return undefined;
  let map = mem.u64(rDebug + 8);
  for (let i = 0; map !== undefined && map !== 0 && i < 4096; i++) {
    if (mem.u64(map) === libc.bias) {
      const lo = mem.u32(map + fieldOffset), hi = mem.u32(map + fieldOffset + 4);
      if (lo === undefined || hi !== 0 || lo === 0) return undefined;
      return value - lo;
    }
    map = mem.u64(map + 0x18);
  }
  return undefined;
}
