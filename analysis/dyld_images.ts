// Decode dyld's published image list (dyld_all_image_infos + dyld_image_info[]) from copied memory.
//
// Layout (64-bit, <mach-o/dyld_images.h>; offsets pinned by _Static_assert in the macOS shim):
//   0 version u32 · 4 infoArrayCount u32 · 8 infoArray ptr · 32 dyldImageLoadAddress ptr
//   152 sharedCacheSlide (v12+) · 160 sharedCacheUUID[16] (v13+) · 176 sharedCacheBaseAddress
//   (v15+) · 184 infoArrayChangeTimestamp · 192 dyldPath (v15+)
//   dyld_image_info: imageLoadAddress ptr, imageFilePath ptr, imageFileModDate (24 bytes)
// Pointers are PAC-stripped. O(images).

import type { MemoryImage } from "./memory.ts";
import { readStrippedPointer } from "./pac.ts";

export const DYLD_IMAGE_INFO_SIZE = 24;

export interface DyldImage {
  loadAddress: number;
  /** The path dyld loaded it from, or "" when the string was not copied. */
  path: string;
  modDate: number;
}

export interface DyldImageList {
  version: number;
  images: DyldImage[];
  dyldLoadAddress: number;
  /** Present from version 12 / 13 / 15 on. */
  sharedCacheSlide?: number;
  sharedCacheUUID?: string;
  sharedCacheBaseAddress?: number;
  dyldPath?: string;
}

/** Decode the dyld_all_image_infos at `address`; throws when the needed bytes were not copied. */
export function decodeDyldImages(mem: MemoryImage, address: number): DyldImageList {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const version = mem.u32(address);
  const count = mem.u32(address + 4);
  const array = readStrippedPointer(mem, address + 8);
  if (version === undefined || count === undefined || array === undefined) {
    throw new RangeError(`Cannot decode dyld_all_image_infos at ${hex(address)}: not copied`);
  }
  if (array === 0 && count > 0) {
    throw new RangeError(
      `Cannot decode dyld_all_image_infos at ${hex(address)}: dyld was updating the image list`,
    );
  }
  const images: DyldImage[] = [];
  for (let i = 0; i < count; i++) {
    const e = array + i * DYLD_IMAGE_INFO_SIZE;
    const loadAddress = readStrippedPointer(mem, e);
    const pathPtr = readStrippedPointer(mem, e + 8);
    const modDate = mem.u64(e + 16);
    if (loadAddress === undefined || pathPtr === undefined || modDate === undefined) {
      throw new RangeError(`Cannot decode dyld_image_info ${i} at ${hex(e)}: not copied`);
    }
    images.push({ loadAddress, path: (pathPtr && mem.cstring(pathPtr)) || "", modDate });
  }
  const out: DyldImageList = {
    version,
    images,
    dyldLoadAddress: readStrippedPointer(mem, address + 32) ?? 0,
  };
  if (version >= 12) out.sharedCacheSlide = mem.u64(address + 152);
  if (version >= 13) {
    const uuid = mem.slice(address + 160, 16);
    if (uuid) {
      out.sharedCacheUUID = Array.from(uuid, (b) => b.toString(16).padStart(2, "0")).join("");
    }
  }
  if (version >= 15) {
    out.sharedCacheBaseAddress = readStrippedPointer(mem, address + 176);
    const p = readStrippedPointer(mem, address + 192);
    if (p) out.dyldPath = mem.cstring(p);
  }
  return out;
}
