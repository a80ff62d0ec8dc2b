// detectGoRuntime(): is a captured native process a Go program? Go's heap is not malloc's: an
// attach that reads it as glibc's would report false leaks, so the attach command says so instead
// and explains how to get a heap dump.
//
// Evidence, strongest first: the image's known symbols (runtime.buildVersion, runtime.main), then
// the build-info blob the Go linker (1.13+) puts at the start of the writable data segment
// (".go.buildinfo", magic "\xff Go buildinf:", 16-byte aligned) in the copied image memory; it
// also names the Go version. O(bytes of the images' copied writable memory) at worst.

import type { Snapshot } from "../types.ts";

export interface GoRuntimeInfo {
  /** The image that holds the Go runtime (the executable for a gc-built program). */
  image: string;
  /** "go1.19.8", when the build info says. */
  version?: string;
  /** What gave it away: "symbol runtime.main", "build info at 0x524000". */
  evidence: string;
}

const MAGIC = [0xff, ...new TextEncoder().encode(" Go buildinf:")];
/** The build-info header: magic (14), pointer size (1), flags (1), then two pointer-size words. */
const HEADER = 32;
/** Flag bit of Go 1.18+: version and module strings follow the header inline, varint-prefixed. */
const FLAG_INLINE_STRINGS = 2;
/** Go aligns the blob to 16 bytes. */
const ALIGN = 16;
/** Writable bytes scanned per image: the blob is the first thing in the data segment. */
const SCAN_LIMIT = 1 << 20;
const GO_SYMBOLS = ["runtime.buildVersion", "runtime.main", "runtime.mallocgc"];

/** The Go runtime of `s`, or undefined when nothing says it is a Go program. */
export function detectGoRuntime(s: Snapshot): GoRuntimeInfo | undefined {
  for (const image of s.images) {
    const sym = GO_SYMBOLS.find((n) => image.symbols?.[n] !== undefined);
    let found: GoRuntimeInfo | undefined;
    for (const w of image.writable) {
      for (const m of s.memory) {
        const from = Math.max(w.start, m.start);
        const to = Math.min(w.end, m.start + m.bytes.length, from + SCAN_LIMIT);
        if (from >= to) continue;
        const at = findBuildInfo(m.bytes.subarray(from - m.start, to - m.start));
        if (at < 0) continue;
        found = {
          image: image.path,
          version: buildInfoVersion(m.bytes.subarray(from - m.start + at, to - m.start)),
          evidence: `Go build info at 0x${(from + at).toString(16)}`,
        };
        break;
      }
      if (found) break;
    }
    if (found) return found;
    if (sym) return { image: image.path, evidence: `symbol ${sym}` };
  }
  return undefined;
}

/** Offset of the Go build-info magic in `bytes` (16-byte aligned), or -1. O(bytes / 16). */
export function findBuildInfo(bytes: Uint8Array): number {
  outer: for (let at = 0; at + HEADER <= bytes.length; at += ALIGN) {
    for (let i = 0; i < MAGIC.length; i++) if (bytes[at + i] !== MAGIC[i]) continue outer;
    return at;
  }
  return -1;
}

/** The Go version of a build-info blob (inline strings, Go 1.18+), else undefined. */
export function buildInfoVersion(blob: Uint8Array): string | undefined {
  if (blob.length < HEADER || !(blob[15]! & FLAG_INLINE_STRINGS)) return undefined;
  let p = HEADER, len = 0, shift = 0;
  for (;;) {
    const b = blob[p++];
    if (b === undefined || shift > 28) return undefined;
    len |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
  }
  if (len === 0 || len > 64 || p + len > blob.length) return undefined;
  const v = new TextDecoder().decode(blob.subarray(p, p + len));
  return /^go\d/.test(v) ? v : undefined;
}
