// Loaded images of a Linux process: group file mappings, parse each ELF once, place it at runtime.

import type { Image, Region } from "../analysis/types.ts";
import {
  debugFilePath,
  ElfFile,
  type ElfSegment,
  loadBias,
  PF_W,
  STT_TLS,
} from "../analysis/elf.ts";
import { MALLOC_FUNCTIONS } from "../analysis/glibc/mod.ts";

/** Symbols the analysis asks for; found in .symtab/.dynsym of the image and of its debug file. */
export const WANTED_SYMBOLS = [
  "main_arena",
  "mp_",
  "global_max_fast",
  "tcache_key",
  "narenas",
  "_r_debug",
  "__libc_malloc",
  "malloc",
  "mallocx",
  "je_malloc",
  "tc_malloc",
  "tcmalloc",
  "mi_malloc",
  // The sanitizers' runtimes, which replace malloc (clang links them into the executable).
  "__asan_init",
  "__hwasan_init",
  "__msan_init",
  "__tsan_init",
  "__lsan_init",
  "_thread_db_sizeof_pthread",
  "_thread_db_link_map_l_tls_offset",
  "_thread_db_pthread_dtvp",
  "_thread_db_pthread_specific",
  "_rtld_global",
  "_rtld_global_ro",
  // STT_TLS: stored raw as "tls:<name>".
  "tcache",
  "thread_arena",
  // glibc malloc's own functions (with their sizes): is a stopped thread inside the allocator?
  ...MALLOC_FUNCTIONS,
] as const;

/** What one ELF file contributes, independent of where it is loaded. */
interface ParsedElf {
  loads: ElfSegment[];
  buildId?: string;
  /** name → st_value (TLS names carry the "tls:" prefix). */
  values: Record<string, number>;
  sizes: Record<string, number>;
  tls: Set<string>;
}

/** A run of mappings of one file, in address order (one load of it). */
interface MappingGroup {
  path: string;
  inode: number;
  regions: Region[];
}

/** Reads [start, start+length) of the target, for images whose file cannot be opened. */
export type MemoryReader = (start: number, length: number) => Uint8Array | undefined;

/** Parses and caches ELF files by inode and path; builds Image[] for a region list. */
export class ImageTable {
  #cache = new Map<string, ParsedElf | null>();
  warnings: string[] = [];

  /** Images of the file-backed mappings in `regions`. Non-ELF files are skipped. */
  images(pid: number, regions: readonly Region[], pageSize: number, mem?: MemoryReader): Image[] {
    const out: Image[] = [];
    for (const g of groupMappings(regions)) {
      const first = g.regions[0]!;
      const parsed = this.#parse(pid, g, first, mem);
      if (!parsed) continue;
      const bias = loadBias(parsed.loads, first.start, first.offset, pageSize);
      if (bias === undefined) continue;
      const image: Image = {
        path: g.path,
        bias,
        writable: parsed.loads
          .filter((s) => (s.flags & PF_W) !== 0 && s.memsz > 0)
          .map((s) => ({ start: bias + s.vaddr, end: bias + s.vaddr + s.memsz })),
      };
      if (parsed.buildId) image.buildId = parsed.buildId;
      const names = Object.keys(parsed.values);
      if (names.length > 0) {
        image.symbols = {};
        image.symbolSizes = {};
        for (const name of names) {
          const v = parsed.values[name]!;
          image.symbols[name] = parsed.tls.has(name) ? v : bias + v;
          image.symbolSizes[name] = parsed.sizes[name]!;
        }
      }
      out.push(image);
    }
    return out;
  }

  /** Whether the file behind every group of `regions` is parsed already (no work left). */
  covers(regions: readonly Region[]): boolean {
    return groupMappings(regions).every((g) => this.#cache.has(key(g)));
  }

  #parse(pid: number, g: MappingGroup, first: Region, mem?: MemoryReader): ParsedElf | null {
    const k = key(g);
    const hit = this.#cache.get(k);
    if (hit !== undefined) return hit;
    let parsed: ParsedElf | null = null;
    const mapFile = `/proc/${pid}/map_files/${first.start.toString(16)}-${first.end.toString(16)}`;
    for (const path of [mapFile, g.path]) {
      try {
        parsed = withFile(path, (read) => parseElf(read));
        break;
      } catch (e) {
        if (e instanceof NotElf) break; // a data file (locale archive, font...): not an image
      }
    }
    if (parsed === null && mem && first.offset === 0 && first.perms[0] === "r") {
      // The file is gone or unreadable: headers from the copy in memory (no sections there).
      const head = mem(first.start, Math.min(first.end - first.start, 65536));
      if (head) {
        try {
          parsed = parseElf((o, n) => head.subarray(o, o + n));
          this.warnings.push(
            `${g.path}: file unreadable, ELF headers taken from memory (no symbols)`,
          );
        } catch { /* not ELF */ }
      }
    }
    this.#cache.set(k, parsed);
    return parsed;
  }
}

class NotElf extends Error {}

function key(g: MappingGroup): string {
  return `${g.inode}:${g.path}`;
}

/** Mapping groups: a new group starts when a file's offset goes down (a second load). */
function groupMappings(regions: readonly Region[]): MappingGroup[] {
  const groups: MappingGroup[] = [];
  const open = new Map<string, MappingGroup>();
  for (const r of regions) {
    if (r.inode === 0 || !r.path.startsWith("/") || r.path.startsWith("/dev/")) continue;
    const path = r.path.replace(/ \(deleted\)$/, "");
    const k = `${r.inode}:${path}`;
    const g = open.get(k);
    const last = g?.regions[g.regions.length - 1];
    // RELRO maps the same file page again, so offsets may repeat; a second load starts lower.
    if (g && last && r.offset >= last.offset) {
      g.regions.push(r);
      continue;
    }
    const fresh = { path, inode: r.inode, regions: [r] };
    groups.push(fresh);
    open.set(k, fresh);
  }
  // Parse from the lowest file offset (normally 0).
  for (const g of groups) g.regions.sort((a, b) => a.offset - b.offset || a.start - b.start);
  return groups;
}

function parseElf(read: (offset: number, length: number) => Uint8Array): ParsedElf {
  const magic = read(0, 4);
  if (magic[0] !== 0x7f || magic[1] !== 0x45 || magic[2] !== 0x4c || magic[3] !== 0x46) {
    throw new NotElf();
  }
  const elf = new ElfFile(read);
  const parsed: ParsedElf = { loads: elf.loads, values: {}, sizes: {}, tls: new Set() };
  const id = elf.buildId();
  if (id) parsed.buildId = id;
  const take = (file: ElfFile) => {
    for (const [name, s] of file.findSymbols(WANTED_SYMBOLS)) {
      const k = s.type === STT_TLS ? `tls:${name}` : name;
      if (k in parsed.values) continue;
      parsed.values[k] = s.value;
      parsed.sizes[k] = s.size;
      if (s.type === STT_TLS) parsed.tls.add(k);
    }
  };
  take(elf);
  if (id) {
    try {
      withFile(debugFilePath(id), (r) => take(new ElfFile(r)));
    } catch { /* no debug file installed */ }
  }
  return parsed;
}

/** Run `fn` with a positional reader of `path`; the file is closed afterwards. */
function withFile<T>(
  path: string,
  fn: (read: (offset: number, length: number) => Uint8Array) => T,
): T {
  const file = Deno.openSync(path);
  try {
    return fn((offset, length) => {
      const buf = new Uint8Array(length);
      file.seekSync(offset, Deno.SeekMode.Start);
      let n = 0;
      while (n < length) {
        const r = file.readSync(buf.subarray(n));
        if (r === null || r === 0) break;
        n += r;
      }
      return buf.subarray(0, n);
    });
  } finally {
    file.close();
  }
}
