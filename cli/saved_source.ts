// A saved process to analyse: a heapscope snapshot file (`--save`) or an ELF core file, opened the
// same way for `heapscope analyze` and `heapscope why`. What the pipeline needs travels with it:
// the image files (carried by the snapshot, or found beside the core), the recorder's table and
// its symbolized frames.

import type { ImageFiles, Snapshot } from "../analysis/mod.ts";
import type { FrameMap } from "../analysis/sites.ts";
import { isCoreFile, loadCoreFile } from "../ffi/core_load.ts";
import { diskImageFiles } from "../ffi/image_files.ts";
import {
  isSnapshotFile,
  readSnapshotFile,
  type SnapshotFile,
  snapshotImageFiles,
} from "../ffi/snapshot_file.ts";
import type { OutputOptions } from "./pipeline.ts";
import { UsageError } from "./options.ts";

export interface SavedSource {
  kind: "snapshot" | "core";
  snapshot: Snapshot;
  imageFiles: ImageFiles;
  recorder?: OutputOptions["recorder"];
  frames?: FrameMap;
  /** What loading found worth saying (a core's signal, libraries read from elsewhere). */
  notes: string[];
  close(): void;
}

/** The first bytes of `path` (enough to tell a snapshot from a core); a UsageError if unreadable. */
export async function readHead(path: string, usage: string): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    throw new UsageError(
      `Cannot open "${path}": ${
        e instanceof Deno.errors.NotFound ? "the file does not exist" : (e as Error).message
      }`,
      [`Usage: ${usage}`],
    );
  }
  try {
    const buf = new Uint8Array(64);
    const n = (await file.read(buf)) ?? 0;
    return buf.subarray(0, n);
  } finally {
    file.close();
  }
}

/**
 * Open a snapshot or core file whose first bytes are `head`; undefined when it is neither.
 * `exe`/`sysroot` are for cores only (a snapshot carries what it needs).
 */
export async function openSavedSource(
  path: string,
  head: Uint8Array,
  opts: { exe?: string; sysroot?: string } = {},
): Promise<SavedSource | undefined> {
  if (isSnapshotFile(head)) {
    if (opts.exe || opts.sysroot) {
      throw new UsageError("--exe and --sysroot are for core files", [
        "A snapshot file carries what it needs from the executable and libraries",
      ]);
    }
    const file = await readSnapshotFile(path);
    const files = imageFilesOf(file);
    return {
      kind: "snapshot",
      snapshot: file.snapshot,
      imageFiles: files,
      ...(file.recorder ? { recorder: file.recorder } : {}),
      ...(file.frames ? { frames: file.frames } : {}),
      notes: [],
      close: () => (files as Partial<ReturnType<typeof diskImageFiles>>).close?.(),
    };
  }
  if (isCoreFile(head)) {
    const core = await loadCoreFile(path, { exe: opts.exe, sysroot: opts.sysroot });
    return {
      kind: "core",
      snapshot: core.snapshot,
      imageFiles: core.imageFiles,
      notes: core.notes,
      close: () => core.imageFiles.close(),
    };
  }
  return undefined;
}

/**
 * The image files of a snapshot file: the ones it carries; a version 1 file carries none, so they
 * are read at their paths (never through /proc/PID/map_files: that pid is another process now).
 */
function imageFilesOf(file: SnapshotFile): ImageFiles {
  const carried = snapshotImageFiles(file);
  if (carried) return carried;
  file.snapshot.warnings.push(
    "this snapshot was written by an older heapscope and carries no image files: symbols and " +
      "read-only data are read from the files at their paths here, which may differ from the " +
      "process's",
  );
  // pid 0 has no /proc/0/map_files: diskImageFiles then opens the paths themselves.
  return diskImageFiles({ ...file.snapshot, pid: 0 });
}
