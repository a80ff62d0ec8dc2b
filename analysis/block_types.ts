// What each block is, without debug info: C++ objects by their vtable, libstdc++ container parts by
// their layout, objects named by an object-id file, the rest unknown (a recorded process adds
// "malloc in <function>" later, from the allocation stacks).
//
// - C++ objects with virtual functions: the block's first word is a vtable pointer; the vtable's
//   word before it points to the type's std::type_info, whose second word points to the mangled type
//   name ("7Session") in the image's read-only data: demangled, "Session". A make_shared control
//   block is `std::_Sp_counted_ptr_inplace<Session, …>` this way: it names what it holds. Each
//   distinct vtable pointer is resolved once.
// - libstdc++ container parts (chap recognises the same): a string's heap body and a vector's
//   storage (analysis/containers.ts found them), red-black tree nodes (`_Rb_tree_node`: color,
//   parent, left, right, each link answered by the node it points to), and unordered_map/set bucket
//   arrays and nodes (the hashtable object's layout: buckets, bucket count, before-begin, element
//   count, max load factor as a float).
// - An object-id file (heapspurs' --oid): a 64-bit value in a block's first word names it.
// O(blocks + references) plus O(distinct vtables · symbol lookup).

import { i32Array, u8Array } from "./arrays.ts";
import type { ImageIndex } from "./image_index.ts";
import { hi32, lo32, type MemoryImage, NO_WINDOW } from "./memory.ts";

const TWO32 = 4294967296;
import type { OidTable } from "./go/oid_file.ts";
import type { References } from "./containers.ts";
import type { Recognised } from "./recognise_kernel.ts";

export interface TypeInput {
  memory: MemoryImage;
  addresses: Float64Array;
  sizes: Float64Array;
  images: ImageIndex;
  /** Demangles a C++ symbol name (`_ZTS…`): analysis/demangle.ts, loaded by the caller. */
  demangle?: (name: string) => string;
  /** Bodies analysis/containers.ts recognised. */
  bodies?: ReadonlyMap<number, "string" | "vector">;
  /** Block id at an address (exact start or interior), -1 when none. */
  blockAt: (address: number) => number;
  /** Every reference (block and root words pointing into a block): hashtable candidates. */
  refs: References;
  oids?: OidTable;
  /**
   * Whether the process has a C++ runtime (libstdc++ or libc++ mapped). When false and no object
   * was named by its vtable, container parts get no std:: name: in a C program a layout such as
   * stdio's {write_base, write_ptr, write_end} is no std::vector. Default true.
   */
  cxxRuntime?: boolean;
  /** What the loops below would find, when the native recognise pass found it already. */
  found?: Pick<Recognised, "vtables" | "rbNodes" | "hashRefs">;
  /**
   * Leave `type` sparse until finishTypes(): it holds id + 1 (0 unknown) and no page is written
   * for an unknown block, so a heap with few typed blocks (a C heap: none) keeps the column out of
   * the peak RSS until the caller has given its heap copy back (4 bytes a block).
   */
  sparse?: boolean;
}

export interface BlockTypes {
  /** Per node an index into `names`, -1 when unknown (id + 1, 0 unknown, while `sparse`). */
  type: Int32Array;
  names: string[];
  /** 1 for objects the program made itself (named by vtable or object id), not container parts. */
  objects: Uint8Array;
  /** `type` is still in the sparse form (TypeInput.sparse): finishTypes() has not run. */
  sparse?: boolean;
}

/** `types.type` in its final form (-1 unknown), in place: every page written now. O(n). */
export function finishTypes(types: BlockTypes): void {
  if (!types.sparse) return;
  const type = types.type;
  for (let v = 0; v < type.length; v++) type[v] = type[v]! - 1;
  types.sparse = false;
}

/** Names given to container parts (one vocabulary for the summary, leaks.json and `why`). */
export const PART = {
  string: "std::string (heap body)",
  vector: "std::vector (storage)",
  rbNode: "std::_Rb_tree_node (map/set node)",
  rbOwner: "std::map/std::set",
  buckets: "std::unordered_map/set (buckets)",
  hashNode: "std::unordered_map/set (node)",
  hashOwner: "std::unordered_map/std::unordered_set",
} as const;

/** Longest hashtable chain walked from one before-begin (a corrupt list must not run forever). */
const MAX_CHAIN = 1 << 20;
/** A plausible max_load_factor: libstdc++'s default is 1.0; nobody sets 0.01 or 1000. */
const MIN_LOAD = 0.05, MAX_LOAD = 100;

export function inferTypes(input: TypeInput): BlockTypes {
  const { memory, addresses } = input;
  const n = addresses.length;
  const sparse = input.sparse === true;
  const type = sparse ? i32Array(n, true) : i32Array(n).fill(-1);
  // The value of an unknown block, and the stored form of id k.
  const unknown = sparse ? 0 : -1, stored = sparse ? 1 : 0;
  const names: string[] = [];
  const ids = new Map<string, number>();
  const idOf = (name: string) => {
    let id = ids.get(name);
    if (id === undefined) {
      id = names.length;
      names.push(name);
      ids.set(name, id);
    }
    return id;
  };
  const set = (v: number, name: string) => {
    if (type[v] === unknown) type[v] = idOf(name) + stored;
  };
  // Sparse: written only for the blocks named as objects (none on a C heap), so only their pages
  // are resident through the run's peaks.
  const objects = u8Array(n, true);
  // Objects named by an id in their first word take precedence: the program says what they are.
  if (input.oids) {
    for (let v = 0; v < n; v++) {
      const bytes = memory.slice(addresses[v]!, 8);
      if (!bytes) continue;
      let key = "";
      for (let i = 7; i >= 0; i--) key += bytes[i]!.toString(16).padStart(2, "0");
      const k = input.oids.byValue.get(key);
      if (k !== undefined) {
        set(v, input.oids.names[k]!);
        objects[v] = 1;
      }
    }
  }
  // C++ objects by vtable.
  const byVptr = new Map<number, string | null>();
  const named = (v: number, w: number) => {
    let name = byVptr.get(w);
    if (name === undefined) {
      name = vtableType(input, w);
      byVptr.set(w, name);
    }
    if (name) {
      set(v, name);
      objects[v] = 1;
    }
  };
  if (input.found) {
    const c = input.found.vtables;
    for (let k = 0; k < c.block.length; k++) {
      if (type[c.block[k]!] === unknown) named(c.block[k]!, c.word[k]!);
    }
  } else firstWordTypes(input, type, unknown, named);
  // Container parts, named only in a C++ program.
  let cxx = input.cxxRuntime !== false;
  for (const name of byVptr.values()) cxx ||= name !== null;
  if (cxx) {
    for (const [v, kind] of input.bodies ?? []) {
      set(v, kind === "string" ? PART.string : PART.vector);
    }
    rbTreeNodes(input, set);
    hashtables(input, set);
  }
  return { type, names, objects, ...(sparse ? { sparse } : {}) };
}

/** The vtable pass in TypeScript: `named(v, w)` for each block whose first word w may be one. */
function firstWordTypes(
  input: TypeInput,
  type: Int32Array,
  unknown: number,
  named: (v: number, w: number) => void,
): void {
  const { memory, addresses, sizes } = input;
  const n = addresses.length;

  // First words read from a chunk window kept in locals (see MemoryImage.window).
  let win = NO_WINDOW, ws = 0, we = 0, W = win.words;
  const words = memory.wordReader();
  for (let v = 0; v < n; v++) {
    if (type[v] !== unknown || sizes[v]! < 8) continue;
    const a = addresses[v]!;
    if (a < ws || a + 8 > we) {
      win = memory.window(a) ?? NO_WINDOW;
      ws = win.start;
      we = win.end;
      W = win.words;
    }
    let w: number;
    if (a >= ws && a + 8 <= we) {
      const k = (a - ws) >>> 2;
      // A vtable pointer is 8-aligned.
      if ((W[k]! & 7) !== 0) continue;
      w = W[k]! + W[k + 1]! * TWO32;
    } else {
      const x = words.u64(a); // a block that starts where no whole chunk holds its first word
      if (x === undefined || x % 8 !== 0) continue;
      w = x;
    }
    // Small numbers are no vtable. (Telling heap pointers apart by the allocation index was
    // tried: faster at 10^6 blocks, twice slower at 10^7, where its tables miss the cache; the
    // cache of first words and the image search below stay in it.)
    if (w < 4096) continue;
    // Most first words are pointers into the heap or small numbers: one search says no.
    if (!input.images.imageAt(w, true)) continue;
    named(v, w);
  }
}

/** The demangled type of the object whose vtable pointer is `vptr`, or null. */
function vtableType(input: TypeInput, vptr: number): string | null {
  const { images } = input;
  if (!images.imageAt(vptr, true)) return null;
  const word = (a: number) => {
    const m = input.memory.u64(a);
    if (m !== undefined) return m;
    const b = images.read(a, 8);
    if (!b) return undefined;
    const d = new DataView(b.buffer, b.byteOffset, 8);
    return d.getUint32(0, true) + d.getUint32(4, true) * 4294967296;
  };
  // The primary vtable of a complete object: offset-to-top 0, then the type_info pointer.
  if (word(vptr - 16) !== 0) return null;
  const ti = word(vptr - 8);
  if (!ti || ti % 8 !== 0 || !images.imageAt(ti, true)) return null;
  const namePtr = word(ti + 8);
  if (!namePtr || !images.imageAt(namePtr, true)) return null;
  const raw = input.memory.cstring(namePtr, 1024) ?? images.cstring(namePtr, 1024);
  // A mangled type name: "7Session", "St6vectorIiSaIiEE", "N4shop6BasketE".
  if (!raw || !/^[A-Za-z0-9_]+$/.test(raw) || raw.length > 1000) return null;
  if (!input.demangle) return raw;
  const out = input.demangle(`_ZTS${raw}`);
  const prefix = "typeinfo name for ";
  return out.startsWith(prefix) ? out.slice(prefix.length) : null;
}

/**
 * Red-black tree nodes: `{ int color; _Rb_tree_node_base *parent, *left, *right; value }`, color 0
 * or 1, and every link answered: the parent points back to the node (as its left or right child,
 * or, for the root, through the header's parent word), each child's parent is the node.
 */
function rbTreeNodes(input: TypeInput, set: (v: number, name: string) => void): void {
  const { addresses, sizes } = input;
  const node = (v: number, header: number) => {
    set(v, PART.rbNode);
    if (header >= 0) {
      // The header lives inside the map object (after its comparator): name the owner block.
      const owner = input.blockAt(header);
      if (owner >= 0 && addresses[owner] !== header) set(owner, PART.rbOwner);
    }
  };
  if (input.found) {
    const c = input.found.rbNodes;
    for (let k = 0; k < c.block.length; k++) node(c.block[k]!, c.parent[k]!);
    return;
  }
  const memory = input.memory.wordReader(); // the node's words are read in order: one chunk
  let win = NO_WINDOW, ws = 0, we = 0, W = win.words;
  for (let v = 0; v < addresses.length; v++) {
    const a = addresses[v]!;
    if (sizes[v]! < 40) continue;
    if (a < ws || a + 32 > we) {
      win = input.memory.window(a, 32) ?? NO_WINDOW;
      ws = win.start;
      we = win.end;
      W = win.words;
    }
    if (a >= ws && a + 32 <= we) {
      // color is an int (0 or 1); parent is not null. Most blocks fail here, without a call.
      const k = (a - ws) >>> 2;
      const c = W[k]!;
      if ((c !== 0 && c !== 1) || (W[k + 2] === 0 && W[k + 3] === 0)) continue;
    }
    const color = memory.u32(a);
    if (color !== 0 && color !== 1) continue;
    const parent = memory.u64(a + 8), left = memory.u64(a + 16), right = memory.u64(a + 24);
    if (!parent || left === undefined || right === undefined) continue;
    const back = (p: number) => memory.u64(p + 16) === a || memory.u64(p + 24) === a;
    const header = memory.u64(parent + 8) === a; // the root: header.parent is the node
    if (!back(parent) && !header) continue;
    if (left && memory.u64(left + 8) !== a) continue;
    if (right && memory.u64(right + 8) !== a) continue;
    node(v, header ? parent : -1);
  }
}

/**
 * unordered_map/set objects (libstdc++ _Hashtable): `{ buckets, bucket_count, before_begin.next,
 * element_count, { float max_load; size_t next_resize }, single_bucket }`. Found where a block's
 * start is referenced as `buckets` with a bucket count that fills it; the nodes are the
 * before-begin chain.
 */
function hashtables(input: TypeInput, set: (v: number, name: string) => void): void {
  const { addresses, sizes, refs } = input;
  const memory = input.memory.wordReader();
  // Reference r is the `buckets` word of a hashtable object at x: name it, its buckets, its nodes.
  const found = (r: number) => {
    const x = refs.where(r), b = refs.target(r);
    const elements = memory.u64(x + 24) ?? 0;
    set(b, PART.buckets);
    const h = refs.holder(r);
    if (h >= 0 && addresses[h] === x) set(h, PART.hashOwner);
    let node = memory.u64(x + 16) ?? 0;
    for (let k = 0; node && k < Math.min(elements, MAX_CHAIN); k++) {
      const id = input.blockAt(node);
      if (id < 0 || addresses[id] !== node) break;
      set(id, PART.hashNode);
      node = memory.u64(node) ?? 0;
    }
  };
  if (input.found) {
    const c = input.found.hashRefs;
    for (let k = 0; k < c.length; k++) found(c[k]!);
    return;
  }
  const f32 = new DataView(new ArrayBuffer(4));
  let win = NO_WINDOW, ws = 0, we = 0, W = win.words;
  for (let r = 0; r < refs.count; r++) {
    // `buckets` is the word at x, equal to the target's start: an interior reference is none
    // (the scan said so: no read of the target's address, a random read at 10^7 blocks).
    const exact = refs.exact(r);
    if (exact === 0) continue;
    const x = refs.where(r), b = refs.target(r);
    if (x < ws || x + 8 > we) {
      win = input.memory.window(x) ?? NO_WINDOW;
      ws = win.start;
      we = win.end;
      W = win.words;
    }
    let count: number | undefined, load: number | undefined;
    if (x >= ws && x + 40 <= we) {
      // The whole object's first five words in the window: no call for the usual rejections.
      const k = (x - ws) >>> 2;
      if (W[k + 3] !== 0) continue; // bucket count ≥ 2^32
      if (exact < 0 && (W[k] !== lo32(addresses[b]!) || W[k + 1] !== hi32(addresses[b]!))) {
        continue;
      }
      count = W[k + 2]!;
      load = W[k + 8]!;
    } else {
      const buckets = addresses[b]!;
      if (x >= ws && x + 8 <= we) {
        const k = (x - ws) >>> 2;
        if (W[k] !== lo32(buckets) || W[k + 1] !== hi32(buckets)) continue;
      } else if (memory.u64(x) !== buckets) continue;
      count = memory.u64(x + 8);
      load = memory.u32(x + 32);
    }
    if (count === undefined || count === 0 || count > 1 << 30 || load === undefined) continue;
    if (!(sizes[b]! >= count * 8 && sizes[b]! - count * 8 <= 23)) continue;
    f32.setUint32(0, load, true);
    const maxLoad = f32.getFloat32(0, true);
    if (!(maxLoad >= MIN_LOAD && maxLoad <= MAX_LOAD)) continue;
    found(r);
  }
}
