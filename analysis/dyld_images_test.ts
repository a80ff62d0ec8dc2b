// Tests for decodeDyldImages() on a dyld_all_image_infos laid out as a 64-bit macOS process has it.

import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { decodeDyldImages } from "./dyld_images.ts";
import { MemoryImage } from "./memory.ts";

const INFOS = 0x1_f000_0000; // dyld's __DATA (arbitrary)
const ARRAY = 0x6000_0000_1000; // dyld allocates the array
const STRINGS = 0x1_0000_8000;

function build(version: number, paths: string[], signed: boolean) {
  const infos = new Uint8Array(232);
  const iv = new DataView(infos.buffer);
  const pac = signed ? 0x2a0e_8000_0000_0000n : 0n; // arm64e signature bits on the pointers
  iv.setUint32(0, version, true);
  iv.setUint32(4, paths.length, true);
  iv.setBigUint64(8, BigInt(ARRAY) | pac, true);
  iv.setBigUint64(32, 0x1_8000_0000n, true); // dyld load address
  iv.setBigUint64(152, 0x0b4c_0000n, true); // shared cache slide
  for (let i = 0; i < 16; i++) infos[160 + i] = 0xa0 + i;
  iv.setBigUint64(176, 0x1_8b4c_0000n, true); // shared cache base
  const arr = new Uint8Array(paths.length * 24);
  const av = new DataView(arr.buffer);
  const enc = new TextEncoder();
  const strs = new Uint8Array(4096);
  let s = 0;
  paths.forEach((p, i) => {
    av.setBigUint64(i * 24, BigInt(0x1_0000_0000 + i * 0x10_0000) | pac, true);
    av.setBigUint64(i * 24 + 8, BigInt(STRINGS + s) | pac, true);
    av.setBigUint64(i * 24 + 16, BigInt(1_700_000_000 + i), true);
    strs.set(enc.encode(p), s);
    s += p.length + 1;
  });
  iv.setBigUint64(192, BigInt(STRINGS + s), true);
  strs.set(enc.encode("/usr/lib/dyld"), s);
  return new MemoryImage([
    { start: INFOS, bytes: infos },
    { start: ARRAY, bytes: arr },
    { start: STRINGS, bytes: strs },
  ]);
}

const PATHS = [
  "/Users/me/heapscope/victim/leaky",
  "/usr/lib/libSystem.B.dylib",
  "/usr/lib/system/libsystem_malloc.dylib",
];

Deno.test("decodeDyldImages() lists images with paths, mod dates and shared cache fields", () => {
  const list = decodeDyldImages(build(17, PATHS, false), INFOS);
  assertEquals(list.version, 17);
  assertEquals(list.images.map((i) => i.path), PATHS);
  assertEquals(list.images.map((i) => i.loadAddress), [
    0x1_0000_0000,
    0x1_0010_0000,
    0x1_0020_0000,
  ]);
  assertEquals(list.images[2]!.modDate, 1_700_000_002);
  assertEquals(list.dyldLoadAddress, 0x1_8000_0000);
  assertEquals(list.sharedCacheSlide, 0x0b4c_0000);
  assertEquals(list.sharedCacheBaseAddress, 0x1_8b4c_0000);
  assertEquals(list.sharedCacheUUID, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  assertEquals(list.dyldPath, "/usr/lib/dyld");
});

Deno.test("decodeDyldImages() strips arm64e signatures from the array and path pointers", () => {
  const list = decodeDyldImages(build(17, PATHS, true), INFOS);
  assertEquals(list.images.map((i) => i.path), PATHS);
  assertEquals(list.images[1]!.loadAddress, 0x1_0010_0000);
});

Deno.test("decodeDyldImages() omits fields newer than the struct version", () => {
  const list = decodeDyldImages(build(11, PATHS.slice(0, 1), false), INFOS);
  assertEquals(list.sharedCacheSlide, undefined);
  assertEquals(list.sharedCacheBaseAddress, undefined);
  assertEquals(list.dyldPath, undefined);
  assertEquals(list.images.length, 1);
});

Deno.test("decodeDyldImages() says when bytes are missing or dyld was mid-update", () => {
  assertThrows(() => decodeDyldImages(new MemoryImage([]), INFOS), /not copied/);
  const infos = new Uint8Array(232);
  new DataView(infos.buffer).setUint32(4, 3, true); // count 3, infoArray NULL
  assertThrows(
    () => decodeDyldImages(new MemoryImage([{ start: INFOS, bytes: infos }]), INFOS),
    /updating the image list/,
  );
  const partial = build(17, PATHS, false);
  const cut = new MemoryImage(partial.chunks.filter((c) => c.start !== ARRAY));
  assertThrows(() => decodeDyldImages(cut, INFOS), /dyld_image_info 0/);
});
