// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Finds the image that holds glibc malloc (libc.so.6, or a static executable), its data and version.

import type { Image, Region, Snapshot } from "../../../types.ts";
import type { MemoryImage } from "../../../memory.ts";

export interface LibcInfo {
  /** Path of the image holding malloc (libc.so.6, or the executable when static). */
  path: string;
  image?: Image;
  /** True when malloc lives in a statically linked executable. */
  isStatic: boolean;
  regions: Region[];
  /** Writable data (.data/.bss) at runtime addresses. */
  dataRanges: { start: number; end: number }[];
  /** Where the GOT may be: the data plus the RELRO mapping just before it (read-only at runtime). */
  gotRanges: { start: number; end: number }[];
}

const LIBC_RE = /\/libc(\.so\.6|-2\.\d+\.so)$/;
const SHARED_RE = /\.so(\.\d+)*$/;

/** Locates glibc (or the static executable), or undefined when neither can be told apart. */
export function findLibc(snapshot: Snapshot): LibcInfo | undefined {
  let path = snapshot.regions.find((r) => LIBC_RE.test(r.path))?.path ??
    snapshot.images.find((i) => LIBC_RE.test(i.path))?.path;
  let isStatic = false;
  if (path === undefined) {
    if (snapshot.regions.some((r) => SHARED_RE.test(r.path) && /ld-/.test(r.path))) {
      return undefined;
    }
    path = snapshot.images.find((i) => i.path.startsWith("/") && !SHARED_RE.test(i.path))?.path ??
      snapshot.regions.find((r) => r.path.startsWith("/") && !SHARED_RE.test(r.path))?.path;
    if (path === undefined) return undefined;
    isStatic = true;
  }
  const image = snapshot.images.find((i) => i.path === path);
  const regions = snapshot.regions.filter((r) => r.path === path);
  let dataRanges = image?.writable.filter((w) => w.end > w.start) ?? [];
  if (dataRanges.length === 0) {
    dataRanges = regions.filter((r) => r.perms[1] === "w").map((r) => ({
      start: r.start,
      end: r.end,
    }));
    const last = dataRanges[dataRanges.length - 1];
    if (last !== undefined) {
      const bss = snapshot.regions.find((r) =>
        r.start === last.end && r.path === "" && r.perms[1] === "w"
      );
      if (bss !== undefined) dataRanges.push({ start: bss.start, end: bss.end });
    }
  }
  const firstData = dataRanges[0];
  const relro = regions.filter((r) =>
    r.perms[1] !== "w" && firstData !== undefined && r.end === firstData.start
  );
  const gotRanges = [...relro.map((r) => ({ start: r.start, end: r.end })), ...dataRanges];
  return { path, image, isStatic, regions, dataRanges, gotRanges };
}

const NEEDLE = new TextEncoder().encode("release version ");

/**
 * The "2.NN" from libc's "... release version 2.NN." banner, when its read-only mapping was copied.
 * O(bytes of libc's copied mappings).
 */
export function glibcVersion(mem: MemoryImage, libc: LibcInfo): string | undefined {
  for (const r of libc.regions) {
    for (const c of mem.chunks) {
      const from = Math.max(r.start, c.start), to = Math.min(r.end, c.start + c.bytes.length);
      if (to - from < NEEDLE.length) continue;
      const bytes = c.bytes.subarray(from - c.start, to - c.start);
      let i = bytes.indexOf(NEEDLE[0]!);
      while (i >= 0 && i + NEEDLE.length + 4 <= bytes.length) {
        let ok = true;
        for (let k = 1; k < NEEDLE.length; k++) {
          if (bytes[i + k] !== NEEDLE[k]) {
            ok = false;
            break;
          }
        }
        if (ok) {
          const tail = new TextDecoder().decode(
            bytes.subarray(i + NEEDLE.length, i + NEEDLE.length + 8),
          );
          const m = tail.match(/^(2\.\d+)/);
          if (m?.[1] !== undefined) return m[1];
        }
        i = bytes.indexOf(NEEDLE[0]!, i + 1);
      }
    }
  }
  return undefined;
}
