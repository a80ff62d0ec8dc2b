// Output files written atomically: a temporary file beside the target, then a rename over it.
//
// An interrupted or failed run never leaves a half-written leaks.json or report.html over a good
// one. Temporaries in flight are tracked so a signal handler can remove them before exiting.
// What is not a regular file is never replaced: "-" is standard output; a device, a FIFO or a
// socket is written in place (as a shell redirection would); a symbolic link is followed and its
// target written (atomically, beside the target); a directory is an error.

/** An output file could not be written; `hints` say what to do. The command line exits 2. */
export class OutputFileError extends HeapscopeError {
  constructor(readonly path: string, problem: string, hints: string[] = []) {
    super(`Cannot write "${path}": ${problem}`, hints, EXIT.usage);
    this.name = "OutputFileError";
  }
}

import { EXIT, HeapscopeError } from "../analysis/errors.ts";

const pending = new Set<string>();
let serial = 0;

/** Remove every temporary file still being written (for signal handlers; synchronous). */
export function removePendingTemps(): void {
  for (const tmp of pending) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created yet, or already renamed */ }
  }
  pending.clear();
}

/** `content` written straight into an open file (standard output, a device, a FIFO). */
async function writeInPlace(
  file: { write(p: Uint8Array): Promise<number> },
  path: string,
  content: string | Iterable<string | Uint8Array>,
): Promise<void> {
  const enc = new TextEncoder();
  try {
    for (const piece of typeof content === "string" ? [content] : content) {
      const bytes = typeof piece === "string" ? enc.encode(piece) : piece;
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
    }
  } catch (err) {
    const io = Object.values(Deno.errors).some((E) => err instanceof E);
    throw io ? new OutputFileError(path, (err as Error).message, hintsFor(err)) : err;
  }
}

/** The file a path names once symbolic links are followed (a dangling link: the file it names). */
async function resolveLinks(path: string): Promise<string> {
  for (let hops = 0; hops < 40; hops++) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch {
      return path;
    }
    if (!info.isSymlink) return path;
    const target = await Deno.readLink(path);
    const dir = path.slice(0, path.lastIndexOf("/") + 1);
    path = target.startsWith("/") ? target : dir + target;
  }
  throw new OutputFileError(path, "too many levels of symbolic links");
}

function hintsFor(err: unknown): string[] {
  if (err instanceof Deno.errors.NotFound) return ["the folder does not exist: create it first"];
  if (err instanceof Deno.errors.PermissionDenied) return ["choose a folder you can write to"];
  return [];
}

/**
 * Write `content` (a string, or pieces written one by one, never joined) to `path` atomically.
 * Byte pieces are written before the next piece is asked for, so a producer may reuse its buffer.
 */
export async function writeAtomic(
  path: string,
  content: string | Iterable<string | Uint8Array>,
): Promise<void> {
  if (path === "-") return await writeInPlace(Deno.stdout, path, content);
  path = await resolveLinks(path);
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(path);
  } catch { /* not there yet: created below */ }
  if (info?.isDirectory) {
    throw new OutputFileError(path, "it is a directory", ["give a file name inside it"]);
  }
  if (info && !info.isFile) {
    // A device or a FIFO: written in place, never replaced by a regular file.
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true });
    } catch (err) {
      throw new OutputFileError(path, (err as Error).message, hintsFor(err));
    }
    try {
      return await writeInPlace(file, path, content);
    } finally {
      file.close();
    }
  }
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.${Deno.pid}.${serial++}.tmp`;
  pending.add(tmp);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    const enc = new TextEncoder();
    for (const piece of typeof content === "string" ? [content] : content) {
      const bytes = typeof piece === "string" ? enc.encode(piece) : piece;
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
    }
    file.close();
    file = undefined;
    await Deno.rename(tmp, path);
  } catch (err) {
    file?.close();
    await Deno.remove(tmp).catch(() => {});
    // File-system failures are the user's to fix (exit 2); anything else (a bug while producing the
    // pieces) passes through unchanged.
    const io = Object.values(Deno.errors).some((E) => err instanceof E);
    throw io ? new OutputFileError(path, (err as Error).message, hintsFor(err)) : err;
  } finally {
    pending.delete(tmp);
  }
}
