// A saved process to analyse: a heapscope snapshot file (`--save`) or an ELF core file, opened the
// same way for `heapscope analyze` and `heapscope why`. What the pipeline needs travels with it:
// the image files (carried by the snapshot, or found beside the core), the recorder's table and
// its symbolized frames.

import type { ImageFiles, Snapshot } from "../analysis/mod.ts";
import { ElfFile } from "../analysis/elf.ts";
import type { FrameMap } from "../analysis/sites.ts";
import { isCoreFile, loadCoreFile } from "../ffi/core_load.ts";
import { diskImageFiles } from "../ffi/image_files.ts";
import { frameLinesSync } from "../ffi/symbolize.ts";
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
  /**
   * file:line of code addresses, for stack roots: a snapshot's saved lines (LINES), else its files
   * here when their build id is the one the process ran (else none, rather than wrong ones); a
   * core's files where --exe/--sysroot say.
   */
  frameLines: (pcs: readonly number[]) => ReadonlyMap<number, string>;
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
      frameLines: file.lines
        ? (pcs) =>
          new Map(pcs.flatMap((pc) => file.lines!.has(pc) ? [[pc, file.lines!.get(pc)!]] : []))
        : frameLinesSync(file.snapshot.regions, file.snapshot.pageSize, sameBuildId(file.snapshot)),
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
      frameLines: frameLinesSync(core.snapshot.regions, core.snapshot.pageSize, core.localPath),
      close: () => core.imageFiles.close(),
    };
  }
  return undefined;
}

/** `path` when the file there has the build id the snapshot recorded for it, else undefined. */
function sameBuildId(snapshot: Snapshot): (path: string) => string | undefined {
  const recorded = new Map(snapshot.images.map((i) => [i.path, i.buildId]));
  const cache = new Map<string, string | undefined>();
  return (path) => {
    if (cache.has(path)) return cache.get(path);
    let here: string | undefined;
    try {
      const file = Deno.openSync(path);
      try {
        here = new ElfFile((o, n) => {
          const b = new Uint8Array(n);
          file.seekSync(o, Deno.SeekMode.Start);
          let done = 0;
          while (done < n) {
            const k = file.readSync(b.subarray(done));
            if (!k) break;
            done += k;
          }
          return b.subarray(0, done);
        }).buildId();
      } finally {
        file.close();
      }
    } catch {
      here = undefined; // missing or not ELF
    }
    const want = recorded.get(path);
    const ok = want !== undefined && here === want ? path : undefined;
    cache.set(path, ok);
    return ok;
  };
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
