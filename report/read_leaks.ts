// Read and validate a saved leaks.json: format, version, required fields, node ids that edges, cycles and roots name.

import { EXIT, HeapscopeError } from "../analysis/errors.ts";
import { LEAKS_FORMAT, LEAKS_READABLE_VERSIONS, LEAKS_VERSION } from "./schema.ts";
import type { LeaksFile } from "./schema.ts";

/** A leaks.json that cannot be used: the message names the file and the problem (exit 2). */
export class LeaksFileError extends HeapscopeError {
  constructor(readonly path: string, problem: string, hints: string[] = []) {
    super(`Cannot read leaks file "${path}": ${problem}`, hints, EXIT.usage);
    this.name = "LeaksFileError";
  }
}

/** Read `path`, parse it and check it is a heapscope-leaks file of a readable version; throws LeaksFileError. */
export async function readLeaksFile(path: string): Promise<LeaksFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new LeaksFileError(path, "the file does not exist", [
        "write one with `heapscope <pid> --output leaks.json`",
      ]);
    }
    if (err instanceof Deno.errors.IsADirectory) {
      throw new LeaksFileError(path, "it is a directory, not a file");
    }
    throw new LeaksFileError(path, `it cannot be opened (${(err as Error).message})`);
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
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
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
  ) need(summary, key, "number", "summary.");

  // Hot loops below check types inline and build messages only on failure: files hold millions of nodes.
  const nodes = data.nodes as unknown[];
  const ids = new _IdSet(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as Record<string, unknown>;
    if (
      !_isObject(node) || typeof node.id !== "number" || typeof node.address !== "string" ||
      typeof node.size !== "number" || typeof node.zone !== "string" ||
      (node.status !== "reachable" && node.status !== "leaked" && node.status !== "cycle") ||
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
          JSON.stringify(node.status ?? null)
        }, expected "reachable", "leaked" or "cycle"`,
      );
    }
    if (!ids.add(node.id as number)) fail(`duplicate node id ${node.id} at nodes[${i}]`);
  }
  const edges = data.edges as unknown[];
  for (let i = 0; i < edges.length; i++) {
    const edge = edges[i] as Record<string, unknown>;
    if (
      _isObject(edge) && typeof edge.offset === "number" && ids.has(edge.source) &&
      ids.has(edge.target)
    ) continue;
    if (!_isObject(edge)) return fail(`edges[${i}] is ${_kind(edge)}, expected an object`);
    need(edge, "source", "number", `edges[${i}].`);
    need(edge, "target", "number", `edges[${i}].`);
    need(edge, "offset", "number", `edges[${i}].`);
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
    if (!ids.has(root.target as number)) {
      fail(`roots[${i}].target names node id ${root.target}, which is not in nodes (dangling id)`);
    }
  }
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

function _kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
