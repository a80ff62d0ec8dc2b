// ImageFiles on disk: the ELF files of a live process's images, opened once each, read by offset.
//
// A mapped file may have been replaced or deleted since the process loaded it: /proc/PID/map_files
// still opens the mapped inode while the process lives, so that is tried first, then the path.

import type { FileReader, ImageFiles, Snapshot } from "../analysis/types.ts";

/** Readers of `snapshot`'s image files; `close()` closes every file opened. */
export function diskImageFiles(
  snapshot: Pick<Snapshot, "pid" | "regions">,
): ImageFiles & { close(): void } {
  const open = new Map<string, Deno.FsFile | null>();
  const mapFile = new Map<string, string>();
  for (const r of snapshot.regions) {
    if (r.offset === 0 && r.path.startsWith("/") && !mapFile.has(r.path)) {
      mapFile.set(
        r.path.replace(/ \(deleted\)$/, ""),
        `/proc/${snapshot.pid}/map_files/${r.start.toString(16)}-${r.end.toString(16)}`,
      );
    }
  }
  const file = (path: string): Deno.FsFile | null => {
    let f = open.get(path);
    if (f !== undefined) return f;
    f = null;
    for (const candidate of [mapFile.get(path), path]) {
      if (!candidate) continue;
      try {
        f = Deno.openSync(candidate);
        break;
      } catch { /* try the next */ }
    }
    open.set(path, f);
    return f;
  };
  return {
    open(path: string): FileReader | undefined {
      const f = file(path);
      if (!f) return undefined;
      return (offset, length) => {
        const buf = new Uint8Array(length);
        f.seekSync(offset, Deno.SeekMode.Start);
        let n = 0;
        while (n < length) {
          const r = f.readSync(buf.subarray(n));
          if (r === null || r === 0) break;
          n += r;
        }
        return buf.subarray(0, n);
      };
    },
    close() {
      for (const f of open.values()) f?.close();
      open.clear();
    },
  };
}
