// Test and benchmark helper: a Go heap dump file as a FileRangeReader (read in windows, never
// whole). The heapdump command needs the same; it belongs in cli/ once that layer exists.

import type { FileRangeReader } from "../analysis/go/types.ts";

/** Opens `path` for range reads; close it with `close()` (or `using`). */
export function openDumpFile(path: string): FileRangeReader & Disposable & { close(): void } {
  const file = Deno.openSync(path, { read: true });
  const size = file.statSync().size;
  let closed = false;
  const close = () => {
    if (!closed) file.close();
    closed = true;
  };
  return {
    size,
    read(offset: number, into: Uint8Array): number {
      file.seekSync(offset, Deno.SeekMode.Start);
      return file.readSync(into) ?? 0;
    },
    close,
    [Symbol.dispose]: close,
  };
}
