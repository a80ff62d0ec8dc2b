/* Declarations the macOS backend needs that zig 0.11's bundled macOS headers lack (mach/mach_vm.h,
 * mach-o/dyld_images.h, the private dyld shared-cache query). Written from Apple's published
 * prototypes and struct layouts; the layouts are pinned by _Static_assert in heapscope_macos.c and
 * mirrored by analysis/dyld_images.ts, so a mismatch fails the build rather than a capture.
 * On a real macOS SDK the same names may already be declared: everything here is guarded. */
#ifndef HEAPSCOPE_MACOS_DECLS_H
#define HEAPSCOPE_MACOS_DECLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <mach/mach.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mach/mach_vm.h (MIG-generated in the SDK; exported by libSystem) ---- */
#if !__has_include(<mach/mach_vm.h>)
kern_return_t mach_vm_read_overwrite(vm_map_t target_task, mach_vm_address_t address,
                                     mach_vm_size_t size, mach_vm_address_t data,
                                     mach_vm_size_t *outsize);
kern_return_t mach_vm_region(vm_map_t target_task, mach_vm_address_t *address,
                             mach_vm_size_t *size, vm_region_flavor_t flavor,
                             vm_region_info_t info, mach_msg_type_number_t *info_cnt,
                             mach_port_t *object_name);
kern_return_t mach_vm_region_recurse(vm_map_t target_task, mach_vm_address_t *address,
                                     mach_vm_size_t *size, natural_t *nesting_depth,
                                     vm_region_recurse_info_t info,
                                     mach_msg_type_number_t *info_cnt);
#else
#include <mach/mach_vm.h>
#endif

/* ---- mach-o/dyld_images.h: the structures dyld publishes through TASK_DYLD_INFO ---- */
#if !__has_include(<mach-o/dyld_images.h>)
struct dyld_image_info {
  const struct mach_header *imageLoadAddress; /* where the image is mapped */
  const char *imageFilePath;                  /* path dyld used to load it */
  uintptr_t imageFileModDate;
};

/* Only the prefix heapscope reads (through version 15); never allocated by us, only overlaid on
 * bytes copied out of the target, so a shorter declaration is safe. */
struct dyld_all_image_infos {
  uint32_t version;
  uint32_t infoArrayCount;
  const struct dyld_image_info *infoArray; /* NULL while dyld is updating the list */
  void *notification;
  bool processDetachedFromSharedRegion;
  bool libSystemInitialized; /* version >= 2 */
  const struct mach_header *dyldImageLoadAddress;
  void *jitInfo; /* version >= 3 */
  const char *dyldVersion; /* version >= 5 */
  const char *errorMessage;
  uintptr_t terminationFlags;
  void *coreSymbolicationShmPage; /* version >= 6 */
  uintptr_t systemOrderFlag;      /* version >= 7 */
  uintptr_t uuidArrayCount;       /* version >= 8 */
  const void *uuidArray;
  struct dyld_all_image_infos *dyldAllImageInfosAddress; /* version >= 9 */
  uintptr_t initialImageCount;                           /* version >= 10 */
  uintptr_t errorKind;                                   /* version >= 11 */
  const char *errorClientOfDylibPath;
  const char *errorTargetDylibPath;
  const char *errorSymbol;
  uintptr_t sharedCacheSlide;       /* version >= 12 */
  uint8_t sharedCacheUUID[16];      /* version >= 13 */
  uintptr_t sharedCacheBaseAddress; /* version >= 15 */
  uint64_t infoArrayChangeTimestamp;
  const char *dyldPath;
};
#else
#include <mach-o/dyld_images.h>
#endif

/* ---- dyld (private but exported from libdyld since macOS 10.15): our own shared cache range,
 * used to decide whether a function pointer read from the target is code we also have mapped. */
const void *_dyld_get_shared_cache_range(size_t *length);

#ifdef __cplusplus
}
#endif
#endif
