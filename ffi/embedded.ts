// Native files carried inside a `deno compile` binary, copied out to a private cache for dlopen.
//
// dlopen(3) and LD_PRELOAD need a real file, but `deno compile --include` keeps files in the
// binary's virtual file system, readable only through Deno's own file API. The first run copies
// each one to $XDG_CACHE_HOME/heapscope/<content hash>/ (mode 0700, so no other user can swap the
// library heapscope loads as root); later runs reuse it.

/** Whether this module runs from a `deno compile` binary (its files live under deno-compile-*). */
export function runningCompiled(url = import.meta.url): boolean {
  return /\/deno-compile-[^/]*\//.test(url);
}

/** FNV-1a, 32-bit, as 8 hex digits: names the cache folder after the content. */
function contentHash(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0") + bytes.length.toString(16);
}

function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME");
  return `${xdg || (home ? `${home}/.cache` : "/tmp")}/heapscope`;
}

/**
 * A real path for `path`: itself when heapscope runs from source, else a private copy of the
 * embedded file. `compiled` and `cache` can be given for tests.
 */
export function materialize(
  path: string,
  opts: { compiled?: boolean; cache?: string } = {},
): string {
  if (!(opts.compiled ?? runningCompiled())) return path;
  const bytes = Deno.readFileSync(path);
  const dir = `${opts.cache ?? cacheRoot()}/${contentHash(bytes)}`;
  const out = `${dir}/${path.slice(path.lastIndexOf("/") + 1)}`;
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  Deno.chmodSync(dir, 0o700);
  let same = false;
  try {
    const existing = Deno.readFileSync(out);
    same = existing.length === bytes.length && existing.every((b, i) => b === bytes[i]);
  } catch { /* not extracted yet */ }
  if (!same) {
    const tmp = `${out}.${Deno.pid}.tmp`;
    Deno.writeFileSync(tmp, bytes, { mode: 0o700 });
    Deno.renameSync(tmp, out);
  }
  return out;
}
