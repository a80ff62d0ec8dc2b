// Files the heapdump command reads in ranges, never whole: the Go heap dump (a FileRangeReader for
// analysis/go/) and the --program binary (an ELF ByteSource).

import type { FileRangeReader } from "../analysis/go/types.ts";
import { EXIT, HeapscopeError } from "../analysis/errors.ts";

export interface RangeFile extends FileRangeReader, Disposable {
  /** When the file was last written (a dump: when it was taken), if the file system says. */
  mtime?: Date;
  /** `length` bytes at `offset` (fewer at the end of the file). */
  slice(offset: number, length: number): Uint8Array;
  close(): void;
}

/** Opens `path` for range reads; `what` names it in the error ("Go heap dump"). */
export function openRangeFile(path: string, what: string): RangeFile {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : String(e);
    throw new HeapscopeError(`Cannot open ${what} ${path}: ${why}`, [
      "Check the path; `heapscope heapdump --help` says how to write a Go heap dump",
    ], EXIT.usage);
  }
  const stat = file.statSync();
  const size = stat.size;
  let closed = false;
  const read = (offset: number, into: Uint8Array): number => {
    file.seekSync(offset, Deno.SeekMode.Start);
    return file.readSync(into) ?? 0;
  };
  const close = () => {
    if (!closed) file.close();
    closed = true;
  };
  return {
    size,
    mtime: stat.mtime ?? undefined,
    read,
    slice(offset, length) {
      const out = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      let got = 0;
      while (got < out.length) {
        const n = read(offset + got, out.subarray(got));
        if (n <= 0) break;
        got += n;
      }
      return out.subarray(0, got);
    },
    close,
    [Symbol.dispose]: close,
  };
}
