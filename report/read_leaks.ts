// Read and validate a saved leaks.json: a regular file of bounded size and nesting, its format and
// version, every field's type (the reader trusts nothing it renders), the node ids that edges,
// cycles and roots name.
//
// Hostile input is refused before it costs anything: a FIFO or a device is never opened (opening a
// FIFO blocks, /dev/zero never ends), the size is bounded (MAX_BYTES), nesting deeper than any
// leaks.json has is found by a scan before JSON.parse builds anything (a 400 MiB nest of arrays
// exhausted V8). Messages quote the input only through printable(). O(bytes).

import { EXIT, HeapscopeError } from "../analysis/errors.ts";
import { printable } from "./format.ts";
import { LEAKS_FORMAT, LEAKS_READABLE_VERSIONS, LEAKS_VERSION } from "./schema.ts";
import type { LeaksFile } from "./schema.ts";

/** A leaks.json that cannot be used: the message names the file and the problem (exit 2). */
export class LeaksFileError extends HeapscopeError {
  constructor(readonly path: string, problem: string, hints: string[] = []) {
    super(`Cannot read leaks file "${path}": ${problem}`, hints, EXIT.usage);
    this.name = "LeaksFileError";
  }
}

/**
 * Largest leaks.json read: V8 strings stop at 2^29 − 24 characters (~512 MiB); a file that big is
 * a 10^6-block heap written with --graph all. Bigger heaps are read through their snapshot.
 */
export const MAX_BYTES = 512 * 1024 * 1024;
/** Deepest nesting a leaks.json has: file → stacks → stack → frame (4); 32 leaves room for more. */
export const MAX_DEPTH = 32;

/** Read `path`, parse it and check it is a heapscope-leaks file of a readable version; throws LeaksFileError. */
export async function readLeaksFile(path: string): Promise<LeaksFile> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) throw new LeaksFileError(path, "it is a directory, not a file");
    if (!info.isFile) {
      throw new LeaksFileError(
        path,
        "it is not a regular file (a device, a FIFO or a socket): heapscope reads leaks files only",
        ["save the stream to a file first"],
      );
    }
    if (info.size > MAX_BYTES) {
      throw new LeaksFileError(
        path,
        `it is ${(info.size / 1048576).toFixed(0)} MiB, more than the ${
          MAX_BYTES / 1048576
        } MiB heapscope reads`,
        ["analyse the saved snapshot instead (heapscope analyze), or write --graph leaked"],
      );
    }
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof LeaksFileError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new LeaksFileError(path, "the file does not exist", [
        "write one with `heapscope <pid> --output leaks.json`",
      ]);
    }
    if (err instanceof Deno.errors.IsADirectory) {
      throw new LeaksFileError(path, "it is a directory, not a file");
    }
    throw new LeaksFileError(path, `it cannot be opened (${printable((err as Error).message)})`);
  }
  return parseLeaksText(text, path);
}

/** Parse and validate leaks.json text; `path` is only used in error messages. */
export function parseLeaksText(text: string, path: string): LeaksFile {
  const trimmed = text.trim();
  if (trimmed === "") {
    throw new LeaksFileError(path, "the file is empty", [
      "the capture may have been interrupted: run the analysis again",
    ]);
  }
  const depth = _maxDepth(trimmed, MAX_DEPTH);
  if (depth > MAX_DEPTH) {
    throw new LeaksFileError(path, `it nests arrays or objects deeper than ${MAX_DEPTH} levels`, [
      "this is not a leaks.json written by heapscope",
    ]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const message = printable((err as Error).message).slice(0, 200);
    if (_endsOpen(trimmed)) {
      throw new LeaksFileError(
        path,
        `the file is truncated (JSON ends early after ${text.length} bytes)`,
        [
          "the capture or a copy was cut short: run the analysis again or copy the whole file",
        ],
      );
    }
    throw new LeaksFileError(path, `it is not JSON (${message})`, [
      "pass the leaks.json written by heapscope, not the HTML report or a log",
    ]);
  }
  validateLeaks(data, path);
  return data;
}

function validateLeaks(data: unknown, path: string): asserts data is LeaksFile {
  const fail = (problem: string, hints: string[] = []): never => {
    throw new LeaksFileError(path, problem, hints);
  };
  if (!_isObject(data)) return fail(`expected a JSON object, found ${_kind(data)}`);
  if (data.format !== LEAKS_FORMAT) {
    return fail(
      `wrong format ${JSON.stringify(data.format ?? null)}, expected "${LEAKS_FORMAT}"`,
      ["this is not a heapscope leaks file"],
    );
  }
  if (typeof data.version !== "number" || !LEAKS_READABLE_VERSIONS.includes(data.version)) {
    return fail(
      `unsupported version ${JSON.stringify(data.version ?? null)}, expected one of ${
        LEAKS_READABLE_VERSIONS.join(", ")
      }`,
      [
        typeof data.version === "number" && data.version > LEAKS_VERSION
          ? "the file was written by a newer heapscope: update this one"
          : `re-run the analysis with this heapscope to write a version ${LEAKS_VERSION} file`,
      ],
    );
  }
  /** A count: a whole number ≥ 0. */
  const count = (v: unknown, where: string) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      fail(`field ${where} is ${_kind(v)}, expected a whole number ≥ 0`);
    }
  };
  const oneOf = (v: unknown, allowed: readonly unknown[], where: string) => {
    if (!allowed.includes(v)) {
      fail(
        `field ${where} is ${_kind(v)}, expected ${
          allowed.map((a) => JSON.stringify(a)).join(" or ")
        }`,
      );
    }
  };
  const str = (v: unknown, where: string) => {
    if (typeof v !== "string") fail(`field ${where} is ${_kind(v)}, expected string`);
  };
  const arrayOf = (v: unknown, where: string, each: (x: unknown, where: string) => void) => {
    if (!Array.isArray(v)) return fail(`field ${where} is ${_kind(v)}, expected array`);
    for (let i = 0; i < v.length; i++) each(v[i], `${where}[${i}]`);
  };
  const objectWith = (
    v: unknown,
    where: string,
    fields: Record<string, (x: unknown, where: string) => void>,
    optional: Record<string, (x: unknown, where: string) => void> = {},
  ) => {
    if (!_isObject(v)) return fail(`${where} is ${_kind(v)}, expected an object`);
    for (const [k, check] of Object.entries(fields)) check(v[k], `${where}.${k}`);
    for (const [k, check] of Object.entries(optional)) {
      if (v[k] !== undefined) check(v[k], `${where}.${k}`);
    }
  };
  const num = (v: unknown, where: string) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      fail(`field ${where} is ${_kind(v)}, expected number`);
    }
  };
  /** The optional tables of versions 2 and 3: each field's type, and site ids within stacks. */
  const optionalTables = (d: Record<string, unknown>) => {
    if (d.warnings !== undefined) arrayOf(d.warnings, "warnings", str);
    if (d.phases !== undefined) {
      if (!_isObject(d.phases)) fail(`field phases is ${_kind(d.phases)}, expected an object`);
      for (const [k, v] of Object.entries(d.phases as Record<string, unknown>)) {
        num(v, `phases.${k}`);
      }
    }
    if (d.omitted !== undefined) {
      objectWith(d.omitted, "omitted", { nodes: count, bytes: count, edges: count });
    }
    const frame = (f: unknown, where: string) =>
      objectWith(f, where, { pc: str }, {
        function: str,
        file: str,
        image: str,
        line: count,
        column: count,
        offset: count,
      });
    if (d.stacks !== undefined) arrayOf(d.stacks, "stacks", (st, w) => arrayOf(st, w, frame));
    const stacks = Array.isArray(d.stacks) ? d.stacks.length : 0;
    const siteId = (v: unknown, where: string) => {
      count(v, where);
      if ((v as number) >= stacks) fail(`field ${where} is ${v}, but stacks has ${stacks} entries`);
    };
    if (d.sites !== undefined) {
      arrayOf(d.sites, "sites", (x, w) =>
        objectWith(x, w, {
          site: siteId,
          count,
          bytes: count,
          peakCount: count,
          peakBytes: count,
          totalCount: count,
          totalBytes: count,
          leakedCount: count,
          leakedBytes: count,
          direct: count,
          oldestMs: num,
          meanAgeMs: num,
          threads: (t, tw) => arrayOf(t, tw, count),
        }, { directBytes: num }));
    }
    if (d.omittedSites !== undefined) count(d.omittedSites, "omittedSites");
    if (d.timeline !== undefined) {
      arrayOf(
        d.timeline,
        "timeline",
        (x, w) => objectWith(x, w, { timeNs: num, liveBytes: count, liveCount: count }),
      );
    }
    if (d.types !== undefined) {
      arrayOf(d.types, "types", (x, w) =>
        objectWith(x, w, {
          name: str,
          count,
          bytes: count,
          leakedCount: count,
          leakedBytes: count,
          possibleCount: count,
          possibleBytes: count,
        }));
    }
    if (d.retainers !== undefined) {
      arrayOf(
        d.retainers,
        "retainers",
        (x, w) =>
          objectWith(x, w, { node: num, name: str, bytes: count, blocks: count }, {
            holder: count,
          }),
      );
    }
    return { stacks, types: Array.isArray(d.types) ? d.types.length : 0 };
  };
  const need = (obj: Record<string, unknown>, key: string, type: string, where: string) => {
    const value = obj[key];
    const ok = type === "array"
      ? Array.isArray(value)
      : type === "object"
      ? _isObject(value)
      : typeof value === type && (type !== "number" || Number.isFinite(value));
    if (!ok) {
      fail(
        `field ${where}${key} is ${
          value === undefined ? "missing" : _kind(value)
        }, expected ${type}`,
      );
    }
  };
  need(data, "target", "object", "");
  need(data, "capturedAt", "string", "");
  need(data, "pauseMs", "number", "");
  need(data, "summary", "object", "");
  need(data, "nodes", "array", "");
  need(data, "edges", "array", "");
  need(data, "cycles", "array", "");
  need(data, "roots", "array", "");
  const target = data.target as Record<string, unknown>;
  for (const key of ["pid"]) need(target, key, "number", "target.");
  for (const key of ["command", "platform", "arch", "allocator"]) {
    need(target, key, "string", "target.");
  }
  if (target.platform !== "linux" && target.platform !== "darwin") {
    fail(`field target.platform is ${_kind(target.platform)}, expected "linux" or "darwin"`);
  }
  const summary = data.summary as Record<string, unknown>;
  for (
    const key of [
      "allocations",
      "bytes",
      "reachable",
      "leaked",
      "leakedBytes",
      "direct",
      "indirect",
      "cycles",
    ]
  ) {
    need(summary, key, "number", "summary.");
    count(summary[key], `summary.${key}`);
  }
  for (const key of ["possible", "possibleBytes"]) {
    if (summary[key] !== undefined) count(summary[key], `summary.${key}`);
  }
  optionalTables(data);

  // Hot loops below check types inline and build messages only on failure: files hold millions of nodes.
  const tables = optionalTables(data);
  const nodes = data.nodes as unknown[];
  const ids = new _IdSet(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as Record<string, unknown>;
    if (
      !_isObject(node) || typeof node.id !== "number" || typeof node.address !== "string" ||
      typeof node.size !== "number" || typeof node.zone !== "string" ||
      (node.status !== "reachable" && node.status !== "leaked" && node.status !== "cycle" &&
        node.status !== "possible") ||
      !_isHexAddress(node.address)
    ) {
      if (!_isObject(node)) return fail(`nodes[${i}] is ${_kind(node)}, expected an object`);
      const where = `nodes[${i}].`;
      need(node, "id", "number", where);
      need(node, "address", "string", where);
      need(node, "size", "number", where);
      need(node, "zone", "string", where);
      if (!_isHexAddress(node.address as string)) {
        fail(
          `field ${where}address is ${JSON.stringify(node.address)}, expected "0x" and hex digits`,
        );
      }
      fail(
        `field ${where}status is ${
          printable(JSON.stringify(node.status ?? null).slice(0, 40))
        }, expected "reachable", "possible", "leaked" or "cycle"`,
      );
    }
    if (!Number.isInteger(node.id) || (node.id as number) < 0 || !(node.size as number >= 0)) {
      count(node.id, `nodes[${i}].id`);
      count(node.size, `nodes[${i}].size`);
    }
    // The optional fields, on the few nodes that have them (leaked ones, recorded ones).
    if (
      node.leak !== undefined || node.bytes !== undefined || node.held !== undefined ||
      node.site !== undefined || node.thread !== undefined || node.ageMs !== undefined ||
      node.requested !== undefined || (node.via !== undefined && typeof node.via !== "number") ||
      (node.type !== undefined && !(typeof node.type === "number" && node.type < tables.types)) ||
      (node.retained !== undefined && typeof node.retained !== "number") ||
      (node.idom !== undefined && typeof node.idom !== "number") ||
      (node.heldBy !== undefined && typeof node.heldBy !== "number") ||
      (node.weakLink !== undefined && typeof node.weakLink !== "string")
    ) nodeFields(node, `nodes[${i}]`, tables);
    if (!ids.add(node.id as number)) fail(`duplicate node id ${node.id} at nodes[${i}]`);
  }
  function nodeFields(
    node: Record<string, unknown>,
    where: string,
    t: { stacks: number; types: number },
  ) {
    const id = (v: unknown, w: string) => count(v, w);
    const below = (n: number, what: string) => (v: unknown, w: string) => {
      count(v, w);
      if ((v as number) >= n) fail(`field ${w} is ${v}, but ${what} has ${n} entries`);
    };
    objectWith(node, where, {}, {
      leak: (v, w) => oneOf(v, ["direct", "indirect"], w),
      held: (v, w) => objectWith(v, w, { blocks: count, bytes: count }),
      bytes: (v, w) => {
        str(v, w);
        if (!/^([0-9a-f]{2})*$/.test(v as string)) fail(`field ${w} is not hex bytes`);
      },
      via: id,
      site: below(t.stacks, "stacks"),
      thread: count,
      ageMs: num,
      requested: count,
      type: below(t.types, "types"),
      retained: count,
      idom: (v, w) => {
        if (!Number.isInteger(v) || (v as number) < -1) {
          fail(`field ${w} is ${_kind(v)}, expected a node id or -1`);
        }
      },
      heldBy: count,
      weakLink: str,
    });
  }
  const edges = data.edges as unknown[];
  for (let i = 0; i < edges.length; i++) {
    const edge = edges[i] as Record<string, unknown>;
    if (
      _isObject(edge) && typeof edge.offset === "number" && edge.offset >= 0 &&
      (edge.interior === undefined || edge.interior === true) &&
      (edge.weak === undefined || edge.weak === true) && ids.has(edge.source) &&
      ids.has(edge.target)
    ) continue;
    if (!_isObject(edge)) return fail(`edges[${i}] is ${_kind(edge)}, expected an object`);
    need(edge, "source", "number", `edges[${i}].`);
    need(edge, "target", "number", `edges[${i}].`);
    need(edge, "offset", "number", `edges[${i}].`);
    count(edge.offset, `edges[${i}].offset`);
    if (edge.interior !== undefined) oneOf(edge.interior, [true], `edges[${i}].interior`);
    if (edge.weak !== undefined) oneOf(edge.weak, [true], `edges[${i}].weak`);
    for (const end of ["source", "target"] as const) {
      if (!ids.has(edge[end])) {
        fail(`edges[${i}].${end} names node id ${edge[end]}, which is not in nodes (dangling id)`, [
          "the file was edited or written by a broken writer: re-run the analysis",
        ]);
      }
    }
  }
  const cycles = data.cycles as unknown[];
  for (let i = 0; i < cycles.length; i++) {
    const cycle = cycles[i];
    if (!Array.isArray(cycle)) {
      return fail(`cycles[${i}] is ${_kind(cycle)}, expected an array of node ids`);
    }
    for (const id of cycle) {
      if (!ids.has(id)) {
        fail(
          `cycles[${i}] names node id ${JSON.stringify(id)}, which is not in nodes (dangling id)`,
        );
      }
    }
  }
  const roots = data.roots as unknown[];
  for (let i = 0; i < roots.length; i++) {
    const root = roots[i];
    if (!_isObject(root)) return fail(`roots[${i}] is ${_kind(root)}, expected an object`);
    need(root, "target", "number", `roots[${i}].`);
    objectWith(root, `roots[${i}]`, {
      kind: (v, w) => oneOf(v, ["data", "stack", "register", "tls", "finalizer", "other"], w),
      address: str,
    }, { thread: count, image: str, name: str, weak: (v, w) => oneOf(v, [true], w) });
    if (!ids.has(root.target as number)) {
      fail(`roots[${i}].target names node id ${root.target}, which is not in nodes (dangling id)`);
    }
  }
}

/** Nesting depth of the JSON text, stopping as soon as it passes `limit`. O(n). */
function _maxDepth(text: string, limit: number): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/** True when text starts a JSON object or array that is still open at its end (cut short). O(n). */
function _endsOpen(text: string): boolean {
  if (text[0] !== "{" && text[0] !== "[") return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash escapes the next character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      depth--;
      if (depth === 0) return false; // closed: the error is elsewhere
    }
  }
  return depth > 0;
}

function _isHexAddress(text: string): boolean {
  if (text.length < 3 || text.charCodeAt(0) !== 48 || (text.charCodeAt(1) | 32) !== 120) {
    return false;
  }
  for (let i = 2; i < text.length; i++) {
    const c = text.charCodeAt(i) | 32;
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Set of node ids: a bitmap while ids are small non-negative integers, a Set otherwise. */
class _IdSet {
  #bits: Uint8Array;
  #set: Set<number> | null = null;
  constructor(expected: number) {
    this.#bits = new Uint8Array(Math.max(16, expected * 2));
  }
  add(id: number): boolean {
    if (this.#set === null && Number.isInteger(id) && id >= 0 && id < this.#bits.length) {
      if (this.#bits[id]) return false;
      this.#bits[id] = 1;
      return true;
    }
    if (this.#set === null) {
      this.#set = new Set();
      this.#bits.forEach((b, i) => b && this.#set!.add(i));
    }
    if (this.#set.has(id)) return false;
    this.#set.add(id);
    return true;
  }
  has(id: unknown): boolean {
    if (typeof id !== "number") return false;
    if (this.#set !== null) return this.#set.has(id);
    return Number.isInteger(id) && id >= 0 && id < this.#bits.length && this.#bits[id] === 1;
  }
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a value is, for a message: its type, and a short, terminal-safe quote of it. */
function _kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const quoted = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${printable(quoted.length > 40 ? quoted.slice(0, 40) + "…" : quoted)}`;
}
