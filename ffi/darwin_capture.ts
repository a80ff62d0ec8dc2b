// captureDarwinSnapshot(): suspend a macOS task, copy regions, images, threads, malloc zones and
// writable memory through the shim, resume it. Cannot run on Linux; type-checked there.
//
// Everything is read while the task is suspended (task_suspend2: the kernel resumes the target if
// heapscope dies), in batched shim calls: one hs_regions, one hs_images, two hs_read_ranges for
// every image's Mach-O header and load commands, one hs_zone_allocations (libmalloc's enumerators
// run in this process against the target), and one hs_read_ranges per ≤256 MiB of writable memory.

import { onInterrupt } from "./on_interrupt.ts";
import { machOHeaderSize, machOWritableRanges, MH_EXECUTE, parseMachO } from "../analysis/macho.ts";
import { machRegion } from "../analysis/mach_regions.ts";
import { decodeMachThreadState, decodeMachVectorState } from "../analysis/mach_thread_state.ts";
import type {
  Allocation,
  Arch,
  Image,
  MemoryChunk,
  Region,
  Snapshot,
  ThreadState,
} from "../analysis/types.ts";
import { CaptureError } from "./errors.ts";
import type { CaptureOptions } from "./linux_capture.ts";
import { lastError, shim, unwrap } from "./shim.ts";
import { lastAtOrBelow } from "../analysis/sorted.ts";

export interface DarwinCaptureOptions extends CaptureOptions {
  /** Stop copying writable memory beyond this many bytes (default 8 GiB), with a warning. */
  maxCopyBytes?: number;
}

const HS_ERR_ARG = -6;
const HS_ERR_EXITED = -4;
const BATCH_BYTES = 256 * 1024 * 1024;
const MAX_LOAD_COMMANDS = 1 << 20;
const PAGE_SIZE: Record<Arch, number> = { aarch64: 16384, x86_64: 4096 };
const TWO32 = 4294967296;

/** Hints for a refused task_for_pid, in the order a user should try them. */
export const DARWIN_PERMISSION_HINTS = [
  "Run heapscope with sudo: task_for_pid needs root, or a heapscope binary signed with the com.apple.security.cs.debugger entitlement (`make binary`)",
  "The target must allow it: programs built with the hardened runtime need com.apple.security.get-task-allow (`codesign -f -s - --entitlements entitlements/victim.entitlements <program>`)",
  "SIP-protected programs (/usr/bin, /System, Apple-signed apps) cannot be attached even as root: analyse a copy you built or re-signed yourself",
];

/** A suspended macOS task behind the shim's handle. */
class DarwinTarget {
  readonly pid: number;
  #handle: Deno.PointerValue;

  private constructor(pid: number, handle: Deno.PointerValue) {
    this.pid = pid;
    this.#handle = handle;
  }

  static attach(pid: number, timeoutMs: number): DarwinTarget {
    const msg = (why: string) => `Cannot attach to process ${pid}: ${why}`;
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new CaptureError("no_process", msg("not a valid pid"), [
        "Pass the numeric id of a running process (see `ps`)",
      ]);
    }
    if (pid === Deno.pid) {
      throw new CaptureError("self", msg("it is heapscope itself"), [
        "heapscope suspends its target while copying it, and cannot suspend itself",
      ]);
    }
    const out = new BigUint64Array(1);
    const status = shim().hs_attach(pid, timeoutMs, out);
    if (status !== 0) {
      const detail = lastError();
      switch (status) {
        case -1:
          throw new CaptureError("no_process", msg("no such process"), [
            `Check the pid with \`ps -p ${pid}\`; the process may have exited`,
          ], detail);
        case -2:
          throw new CaptureError(
            "permission",
            msg("task_for_pid was refused"),
            DARWIN_PERMISSION_HINTS,
            detail,
          );
        case HS_ERR_EXITED:
          throw new CaptureError("exited", msg("it exited while being suspended"), [
            "Retry while the process is running",
          ], detail);
        default:
          unwrap(status, msg("the shim failed"));
      }
    }
    return new DarwinTarget(pid, Deno.UnsafePointer.create(out[0]!));
  }

  get handle(): Deno.PointerValue {
    if (this.#handle === null) {
      throw new CaptureError("internal", `Process ${this.pid}: the target handle is closed`);
    }
    return this.#handle;
  }

  /** Resume and free the handle. Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    const h = this.#handle;
    this.#handle = null;
    shim().hs_close(h);
  }

  /** Copy [start, length] spans back to back into `dst`; returns the bytes zero-filled. */
  read(spans: readonly (readonly [number, number])[], dst: Uint8Array): number {
    const r = new BigUint64Array(spans.length * 2);
    spans.forEach(([start, len], i) => {
      r[2 * i] = BigInt(start);
      r[2 * i + 1] = BigInt(len);
    });
    const missing = new BigUint64Array(1);
    this.check(
      shim().hs_read_ranges(this.handle, r, spans.length, dst, missing),
      "Cannot read memory",
    );
    return Number(missing[0]!);
  }

  /** unwrap() with "process exited" turned into the exited error every caller wants. */
  check(status: number, what: string): void {
    if (status === HS_ERR_EXITED) {
      unwrap(status, `Process ${this.pid} exited during the scan`);
    }
    unwrap(status, `${what} of process ${this.pid}`);
  }
}

interface ImageRecord {
  loadAddress: number;
  path: string;
}

/**
 * Snapshot of macOS process `pid`. The target is suspended from the attach to the resume only
 * (`pauseMs`), and resumed on every path out, including SIGINT/SIGTERM/SIGHUP.
 */
export async function captureDarwinSnapshot(
  pid: number,
  opts: DarwinCaptureOptions = {},
): Promise<Snapshot> {
  if (Deno.build.os !== "darwin") {
    throw new CaptureError(
      "unsupported",
      `Cannot capture process ${pid} with the macOS backend on ${Deno.build.os}`,
    );
  }
  const arch = Deno.build.arch;
  const progress = opts.onProgress ?? (() => {});
  const warnings: string[] = [];
  let target: DarwinTarget | undefined;
  const interrupt = onInterrupt(() => target?.close());

  let regions: Region[] = [];
  let images: Image[] = [];
  let threads: ThreadState[] = [];
  let zoneAllocations: Allocation[] = [];
  let memory: MemoryChunk[] = [];
  let command = "";
  let pauseMs = 0;
  try {
    progress("attach", 0, 1);
    const t0 = performance.now();
    target = DarwinTarget.attach(pid, opts.timeoutMs ?? 5000);
    try {
      progress("maps", 0, 1);
      const records = readRegions(target);
      progress("images", 0, 1);
      const found = readImages(target, warnings);
      images = found.images;
      command = found.command;
      regions = nameRegions(records, found.segments);
      progress("registers", 0, 1);
      threads = readThreads(target, arch, warnings);
      progress("zones", 0, 1);
      zoneAllocations = readZones(target, warnings);
      memory = copyWritable(target, regions, opts.maxCopyBytes ?? 8 * 2 ** 30, warnings, progress);
    } finally {
      progress("resume", 0, 1);
      target.close();
      pauseMs = performance.now() - t0;
    }
  } finally {
    target?.close();
    await interrupt.release();
  }
  progress("done", 1, 1);
  return {
    pid,
    command,
    platform: "darwin",
    arch,
    pageSize: PAGE_SIZE[arch],
    capturedAt: new Date().toISOString(),
    pauseMs,
    regions,
    memory,
    threads,
    images,
    zoneAllocations,
    warnings,
  };
}

/** hs_regions records (start, end, prot, tag), growing the buffer once if the first is short. */
function readRegions(t: DarwinTarget): number[][] {
  let cap = 8192;
  for (;;) {
    const buf = new BigUint64Array(cap * 4);
    const count = new Uint32Array(1);
    const status = shim().hs_regions(t.handle, buf, cap, count);
    if (status === HS_ERR_ARG && count[0]! > cap) {
      cap = count[0]! + 256;
      continue;
    }
    t.check(status, "Cannot list the regions");
    const out: number[][] = [];
    for (let i = 0; i < count[0]!; i++) {
      out.push([0, 1, 2, 3].map((k) => Number(buf[4 * i + k]!)));
    }
    return out;
  }
}

/** Image list from dyld, each image's Mach-O header and load commands read from the target. */
function readImages(
  t: DarwinTarget,
  warnings: string[],
): { images: Image[]; command: string; segments: { start: number; end: number; path: string }[] } {
  let cap = 1 << 20;
  let records: ImageRecord[] = [];
  for (;;) {
    const buf = new Uint8Array(cap);
    const len = new Uint32Array(1), count = new Uint32Array(1);
    const status = shim().hs_images(t.handle, buf, cap, len, count);
    if (status === HS_ERR_ARG && len[0]! > cap) {
      cap = len[0]! + 4096;
      continue;
    }
    t.check(status, "Cannot list the images");
    const note = lastError().trim();
    if (note) warnings.push(note);
    records = decodeImageRecords(buf.subarray(0, len[0]!), count[0]!);
    break;
  }
  // Two batched reads: every 32-byte mach_header_64, then every header + load commands.
  const heads = new Uint8Array(records.length * 32);
  t.read(records.map((r) => [r.loadAddress, 32] as const), heads);
  const sizes = records.map((_, i) => {
    try {
      const size = machOHeaderSize(heads.subarray(i * 32, i * 32 + 32));
      return size <= MAX_LOAD_COMMANDS ? size : 0;
    } catch {
      return 0;
    }
  });
  const spans = records.map((r, i) => [r.loadAddress, sizes[i]!] as const).filter(([, n]) => n);
  const all = new Uint8Array(spans.reduce((s, [, n]) => s + n, 0));
  t.read(spans, all);
  const images: Image[] = [];
  const segments: { start: number; end: number; path: string }[] = [];
  let command = "";
  let off = 0;
  records.forEach((r, i) => {
    const size = sizes[i]!;
    if (!size) {
      warnings.push(`image ${r.path}: no Mach-O header at 0x${r.loadAddress.toString(16)}`);
      images.push({ path: r.path, bias: r.loadAddress, writable: [] });
      return;
    }
    const bytes = all.subarray(off, off + size);
    off += size;
    try {
      const m = parseMachO(bytes);
      const text = m.segments.find((s) => s.name === "__TEXT");
      const bias = r.loadAddress - (text?.vmaddr ?? 0);
      const image: Image = {
        path: r.path,
        bias,
        writable: machOWritableRanges(m, r.loadAddress).map(({ start, end }) => ({ start, end })),
      };
      if (m.uuid) image.buildId = m.uuid;
      images.push(image);
      for (const s of m.segments) {
        if (s.vmsize > 0 && s.name !== "__PAGEZERO") {
          segments.push({ start: s.vmaddr + bias, end: s.vmaddr + bias + s.vmsize, path: r.path });
        }
      }
      if (m.filetype === MH_EXECUTE && !command) command = r.path.split("/").pop() ?? r.path;
    } catch (e) {
      warnings.push(`image ${r.path}: ${(e as Error).message}`);
      images.push({ path: r.path, bias: r.loadAddress, writable: [] });
    }
  });
  segments.sort((a, b) => a.start - b.start);
  return { images, command, segments };
}

/** hs_images records: load address (u64 LE) then a NUL-terminated path, packed. */
export function decodeImageRecords(buf: Uint8Array, count: number): ImageRecord[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dec = new TextDecoder();
  const out: ImageRecord[] = [];
  let off = 0;
  for (let i = 0; i < count && off + 8 <= buf.length; i++) {
    const loadAddress = v.getUint32(off, true) + v.getUint32(off + 4, true) * TWO32;
    let end = off + 8;
    while (end < buf.length && buf[end] !== 0) end++;
    out.push({ loadAddress, path: dec.decode(buf.subarray(off + 8, end)) });
    off = end + 1;
  }
  return out;
}

/** Regions named by the image segment they hold, else by the kernel's user_tag. */
function nameRegions(
  records: number[][],
  segments: { start: number; end: number; path: string }[],
): Region[] {
  return records.map(([start, end, prot, tag]) => {
    // Binary search: the last segment starting at or below the region's start.
    const hit = lastAtOrBelow(segments.length, (i) => segments[i]!.start, start!);
    const seg = hit >= 0 ? segments[hit] : undefined;
    const path = seg && start! < seg.end ? seg.path : "";
    return machRegion(start!, end!, prot!, tag!, path);
  });
}

function readThreads(t: DarwinTarget, arch: Arch, warnings: string[]): ThreadState[] {
  const count = new Uint32Array(1);
  t.check(shim().hs_thread_count(t.handle, count), "Cannot count the threads");
  const ids = new BigInt64Array(count[0]!);
  t.check(shim().hs_thread_ids(t.handle, ids, ids.length, count), "Cannot list the threads");
  const buf = new Uint8Array(1024);
  const len = new Uint32Array(1);
  const regs = (i: number, kind: number) => {
    t.check(
      shim().hs_thread_regs(t.handle, i, kind, buf, buf.length, len),
      "Cannot read registers",
    );
    return buf.slice(0, len[0]!);
  };
  const out: ThreadState[] = [];
  for (let i = 0; i < count[0]!; i++) {
    const tid = Number(ids[i]!);
    const gp = decodeMachThreadState(arch, regs(i, 0));
    const registers = [...gp.registers];
    try {
      registers.push(...decodeMachVectorState(arch, regs(i, 1)));
    } catch (e) {
      if (e instanceof CaptureError && e.code === "exited") throw e;
      warnings.push(`thread ${tid}: vector registers unreadable: ${(e as Error).message}`);
    }
    const tp = new DataView(regs(i, 2).buffer);
    out.push({
      tid,
      sp: gp.sp,
      pc: gp.pc,
      tp: tp.getUint32(0, true) + tp.getUint32(4, true) * TWO32,
      registers,
    });
  }
  return out;
}

/** Every in-use block of every malloc zone, as libmalloc's own enumerators report them. */
function readZones(t: DarwinTarget, warnings: string[]): Allocation[] {
  let cap = 1 << 20;
  let namesCap = 1 << 16;
  let tries = 0;
  for (;;) {
    const recs = new BigUint64Array(cap * 3);
    const count = new BigUint64Array(1);
    const names = new Uint8Array(namesCap);
    const status = shim().hs_zone_allocations(t.handle, recs, BigInt(cap), count, names, namesCap);
    if (status === HS_ERR_ARG && tries++ < 6) {
      // The record count is exact; the names buffer size is not reported, so grow it too.
      cap = Math.max(cap, Number(count[0]!));
      namesCap *= 4;
      continue;
    }
    t.check(status, "Cannot enumerate the malloc zones");
    for (const line of lastError().split("\n")) if (line.trim()) warnings.push(line.trim());
    const zoneNames = decodeZoneNames(names);
    const out: Allocation[] = [];
    for (let i = 0; i < Number(count[0]!); i++) {
      const z = Number(recs[3 * i + 2]!);
      out.push({
        address: Number(recs[3 * i]!),
        size: Number(recs[3 * i + 1]!),
        zone: zoneNames[z] ?? `zone ${z}`,
      });
    }
    return out.sort((a, b) => a.address - b.address);
  }
}

/** NUL-separated zone names (ending at the first empty name). */
export function decodeZoneNames(buf: Uint8Array): string[] {
  const out: string[] = [];
  const dec = new TextDecoder();
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0) continue;
    if (i === start) break;
    out.push(dec.decode(buf.subarray(start, i)));
    start = i + 1;
  }
  return out;
}

/** Copy every readable, writable region (heap, stacks, image data), in ≤256 MiB batches. */
function copyWritable(
  t: DarwinTarget,
  regions: Region[],
  maxBytes: number,
  warnings: string[],
  progress: (phase: string, done: number, total: number) => void,
): MemoryChunk[] {
  const spans: [number, number][] = [];
  let total = 0;
  for (const r of regions) {
    if (r.perms[0] !== "r" || r.perms[1] !== "w") continue;
    const len = r.end - r.start;
    if (total + len > maxBytes) {
      warnings.push(
        `writable memory beyond ${maxBytes} bytes was not copied (from ${
          r.path || "0x" + r.start.toString(16)
        })`,
      );
      break;
    }
    const last = spans[spans.length - 1];
    if (last && last[0] + last[1] === r.start) last[1] += len;
    else spans.push([r.start, len]);
    total += len;
  }
  const memory: MemoryChunk[] = [];
  let done = 0;
  let batch: [number, number][] = [];
  let size = 0;
  const flush = () => {
    if (!batch.length) return;
    progress("copy", done, total);
    const buf = new Uint8Array(size);
    const missing = t.read(batch, buf);
    if (missing > 0) warnings.push(`${missing} bytes could not be read and were zero-filled`);
    let off = 0;
    for (const [start, len] of batch) {
      memory.push({ start, bytes: buf.subarray(off, off + len) });
      off += len;
    }
    done += size;
    batch = [];
    size = 0;
  };
  for (const s of spans) {
    if (size + s[1] > BATCH_BYTES) flush();
    batch.push(s);
    size += s[1];
  }
  flush();
  progress("copy", done, total);
  return memory;
}
