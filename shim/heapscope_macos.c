/* macOS backend of the heapscope shim ABI (shim/heapscope.h): Mach task port, suspension, memory,
 * regions, thread states, dyld's image list and libmalloc's zone enumeration.
 *
 * Why C: the zone enumerators live in libsystem_malloc and must run in our process against the
 * target's memory through a memory_reader_t callback; everything else is here to keep one ABI.
 * The target is suspended with task_suspend2, whose token the kernel revokes (resuming the target)
 * if this process dies; hs_resume/hs_close and every attach error path resume it explicitly too.
 *
 * Warnings (zones skipped, strings unreadable) are reported through hs_last_error() after a
 * successful hs_zone_allocations / hs_images call: one warning per line, empty when none.
 */
#if !defined(__APPLE__)
#error "heapscope_macos.c is the macOS backend; build shim/heapscope_linux.c elsewhere"
#endif

#include "heapscope.h"
#include "macos_decls.h"

#include <errno.h>
#include <malloc/malloc.h>
#include <mach/mach.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* arm64e signs pointers in their top bits; user addresses fit in the low 47 bits (the same mask as
 * analysis/pac.ts). On x86_64 the mask is harmless: user addresses are below 2^47 there too. */
#define HS_PAC_MASK 0x00007fffffffffffULL
#define HS_STRIP(p) ((uint64_t)(p) & HS_PAC_MASK)

/* Layout pins: analysis/dyld_images.ts and analysis/mach_thread_state.ts decode these bytes. */
_Static_assert(sizeof(struct dyld_image_info) == 24, "dyld_image_info is 24 bytes");
_Static_assert(offsetof(struct dyld_all_image_infos, infoArray) == 8, "infoArray at 8");
_Static_assert(offsetof(struct dyld_all_image_infos, dyldImageLoadAddress) == 32, "dyld at 32");
_Static_assert(offsetof(struct dyld_all_image_infos, sharedCacheSlide) == 152, "slide at 152");
_Static_assert(offsetof(struct dyld_all_image_infos, sharedCacheUUID) == 160, "uuid at 160");
_Static_assert(offsetof(struct dyld_all_image_infos, sharedCacheBaseAddress) == 176, "base 176");
_Static_assert(offsetof(struct dyld_all_image_infos, dyldPath) == 192, "dyldPath at 192");
#if defined(__aarch64__)
_Static_assert(sizeof(arm_thread_state64_t) == 272, "ARM_THREAD_STATE64 is 272 bytes");
_Static_assert(sizeof(arm_neon_state64_t) == 528, "ARM_NEON_STATE64 is 528 bytes");
_Static_assert(offsetof(arm_thread_state64_t, __fp) == 232, "fp at 232");
_Static_assert(offsetof(arm_thread_state64_t, __pc) == 256, "pc at 256");
_Static_assert(offsetof(arm_thread_state64_t, __cpsr) == 264, "cpsr at 264");
_Static_assert(offsetof(arm_neon_state64_t, __fpsr) == 512, "fpsr at 512");
#define HS_GPR_FLAVOR ARM_THREAD_STATE64
#define HS_GPR_COUNT ARM_THREAD_STATE64_COUNT
#define HS_FPR_FLAVOR ARM_NEON_STATE64
#define HS_FPR_COUNT ARM_NEON_STATE64_COUNT
#elif defined(__x86_64__)
_Static_assert(sizeof(x86_thread_state64_t) == 168, "x86_THREAD_STATE64 is 168 bytes");
_Static_assert(sizeof(x86_float_state64_t) == 524, "x86_FLOAT_STATE64 is 524 bytes");
_Static_assert(offsetof(x86_float_state64_t, __fpu_xmm0) == 168, "xmm0 at 168");
_Static_assert(offsetof(x86_thread_state64_t, __rsp) == 56, "rsp at 56");
_Static_assert(offsetof(x86_thread_state64_t, __rip) == 128, "rip at 128");
_Static_assert(offsetof(x86_thread_state64_t, __gs) == 160, "gs at 160");
#define HS_GPR_FLAVOR x86_THREAD_STATE64
#define HS_GPR_COUNT x86_THREAD_STATE64_COUNT
#define HS_FPR_FLAVOR x86_FLOAT_STATE64
#define HS_FPR_COUNT x86_FLOAT_STATE64_COUNT
#else
#error "unsupported macOS architecture"
#endif

struct hs_target {
  int32_t pid;
  task_t task;
  task_suspension_token_t token; /* from task_suspend2; MACH_PORT_NULL with legacy suspend */
  int suspended;                 /* 1 while our suspension holds */
  int legacy_suspend;            /* 1 when task_suspend was used instead of task_suspend2 */
  thread_act_array_t threads;
  mach_msg_type_number_t nthreads;
  /* Buffers handed out by the memory reader, freed after each zone and on close. */
  void **bufs;
  size_t nbufs, capbufs;
  /* Zone enumeration, computed once and cached. */
  int zones_done;
  int32_t zones_status;
  uint64_t *zrec; /* triples: address, size, zone index */
  uint64_t zcount, zcap;
  char *znames;
  size_t znames_len;
  char *zwarnings;
  size_t zwarnings_len;
};

/* ---------------------------------------------------------------- errors */

static __thread char g_err[2048];

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
}

const char *hs_last_error(void) { return g_err; }

int32_t hs_abi_version(void) { return HS_ABI_VERSION; }

static int32_t kr_status(kern_return_t kr) {
  switch (kr) {
  case KERN_SUCCESS: return HS_OK;
  case KERN_INVALID_ADDRESS:
  case KERN_PROTECTION_FAILURE: return HS_ERR_IO;
  case MACH_SEND_INVALID_DEST:
  case KERN_TERMINATED:
  case KERN_INVALID_ARGUMENT: return HS_ERR_EXITED;
  default: return HS_ERR_INTERNAL;
  }
}

/* --------------------------------------------------------------- memory */

/* Copy [addr, addr+len) into dst; on failure fall back page by page, zero-filling what is
 * unreadable. Returns the number of bytes that could not be read. */
static uint64_t read_range(task_t task, uint64_t addr, uint64_t len, uint8_t *dst) {
  if (len == 0) return 0;
  mach_vm_size_t got = 0;
  kern_return_t kr = mach_vm_read_overwrite(task, addr, len, (mach_vm_address_t)(uintptr_t)dst, &got);
  if (kr == KERN_SUCCESS && got == len) return 0;
  uint64_t page = vm_page_size ? (uint64_t)vm_page_size : 4096u;
  uint64_t missing = 0, off = 0;
  while (off < len) {
    uint64_t a = addr + off;
    uint64_t n = page - (a % page);
    if (n > len - off) n = len - off;
    got = 0;
    kr = mach_vm_read_overwrite(task, a, n, (mach_vm_address_t)(uintptr_t)(dst + off), &got);
    if (kr != KERN_SUCCESS || got != n) {
      memset(dst + off, 0, n);
      missing += n;
    }
    off += n;
  }
  return missing;
}

/* Read a NUL-terminated string of at most cap-1 bytes, never crossing into an unreadable page. */
static int read_cstring(task_t task, uint64_t addr, char *out, size_t cap) {
  size_t n = 0;
  uint64_t page = vm_page_size ? (uint64_t)vm_page_size : 4096u;
  if (cap == 0) return -1;
  out[0] = 0;
  if (addr == 0) return -1;
  while (n + 1 < cap) {
    uint64_t a = addr + n;
    size_t want = (size_t)(page - (a % page));
    if (want > 256) want = 256;
    if (want > cap - 1 - n) want = cap - 1 - n;
    mach_vm_size_t got = 0;
    if (mach_vm_read_overwrite(task, a, want, (mach_vm_address_t)(uintptr_t)(out + n), &got) !=
            KERN_SUCCESS ||
        got != want) {
      out[n] = 0;
      return n ? 0 : -1;
    }
    for (size_t i = 0; i < want; i++) {
      if (out[n + i] == 0) return 0;
    }
    n += want;
  }
  out[cap - 1] = 0;
  return 0;
}

int32_t hs_read_ranges(hs_target *t, const uint64_t *ranges, uint32_t n, uint8_t *dst,
                       uint64_t *missing) {
  if (!t || (!ranges && n) || !missing) {
    set_err("hs_read_ranges: NULL argument");
    return HS_ERR_ARG;
  }
  if (!t->suspended) {
    set_err("hs_read_ranges: process %d is not stopped (read after resume)", t->pid);
    return HS_ERR_STATE;
  }
  uint64_t off = 0, miss = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t addr = ranges[2 * i], len = ranges[2 * i + 1];
    miss += read_range(t->task, addr, len, dst + off);
    off += len;
  }
  *missing = miss;
  return HS_OK;
}

/* --------------------------------------------------------------- attach */

static void drop_threads(hs_target *t) {
  if (!t->threads) return;
  for (mach_msg_type_number_t i = 0; i < t->nthreads; i++) {
    mach_port_deallocate(mach_task_self(), t->threads[i]);
  }
  vm_deallocate(mach_task_self(), (vm_address_t)t->threads,
                t->nthreads * sizeof(thread_act_t));
  t->threads = NULL;
  t->nthreads = 0;
}

static void do_resume(hs_target *t) {
  if (t->suspended) {
    if (t->legacy_suspend) task_resume(t->task);
    else task_resume2(t->token);
    t->suspended = 0;
  }
  drop_threads(t);
  if (t->token != MACH_PORT_NULL) {
    mach_port_deallocate(mach_task_self(), t->token);
    t->token = MACH_PORT_NULL;
  }
}

int32_t hs_attach(int32_t pid, uint32_t timeout_ms, hs_target **out) {
  (void)timeout_ms; /* task_suspend is synchronous: nothing to wait for */
  if (!out) {
    set_err("hs_attach: NULL out pointer");
    return HS_ERR_ARG;
  }
  *out = NULL;
  if (pid <= 0) {
    set_err("Cannot attach to process %d: not a valid pid", pid);
    return HS_ERR_ARG;
  }
  if (pid == getpid()) {
    set_err("Cannot attach to process %d: it is heapscope itself", pid);
    return HS_ERR_ARG;
  }
  if (kill(pid, 0) != 0 && errno == ESRCH) {
    set_err("Cannot attach to process %d: no such process", pid);
    return HS_ERR_NO_PROCESS;
  }
  task_t task = MACH_PORT_NULL;
  kern_return_t kr = task_for_pid(mach_task_self(), pid, &task);
  if (kr != KERN_SUCCESS) {
    if (kill(pid, 0) != 0 && errno == ESRCH) {
      set_err("Cannot attach to process %d: no such process", pid);
      return HS_ERR_NO_PROCESS;
    }
    /* ffi/darwin_capture.ts adds the Hint: lines (root or debugger entitlement, get-task-allow,
     * SIP). */
    set_err("task_for_pid refused (%s, kern_return %d)", mach_error_string(kr), kr);
    return HS_ERR_PERMISSION;
  }
  hs_target *t = calloc(1, sizeof *t);
  if (!t) {
    mach_port_deallocate(mach_task_self(), task);
    set_err("Cannot attach to process %d: out of memory", pid);
    return HS_ERR_INTERNAL;
  }
  t->pid = pid;
  t->task = task;
  kr = task_suspend2(task, &t->token);
  if (kr != KERN_SUCCESS) {
    t->token = MACH_PORT_NULL;
    kr = task_suspend(task);
    t->legacy_suspend = 1;
  }
  if (kr != KERN_SUCCESS) {
    set_err("Cannot attach to process %d: task_suspend failed (%s)", pid, mach_error_string(kr));
    mach_port_deallocate(mach_task_self(), task);
    free(t);
    return kr_status(kr) == HS_ERR_EXITED ? HS_ERR_EXITED : HS_ERR_PERMISSION;
  }
  t->suspended = 1;
  kr = task_threads(task, &t->threads, &t->nthreads);
  if (kr != KERN_SUCCESS) {
    set_err("Cannot attach to process %d: task_threads failed (%s)", pid, mach_error_string(kr));
    t->threads = NULL;
    t->nthreads = 0;
    hs_close(t); /* resumes */
    return kr_status(kr) == HS_ERR_EXITED ? HS_ERR_EXITED : HS_ERR_INTERNAL;
  }
  *out = t;
  return HS_OK;
}

/* -------------------------------------------------------------- threads */

int32_t hs_thread_count(hs_target *t, uint32_t *count) {
  if (!t || !count) return HS_ERR_ARG;
  if (!t->suspended) {
    set_err("hs_thread_count: process %d is not stopped", t->pid);
    return HS_ERR_STATE;
  }
  *count = t->nthreads;
  return HS_OK;
}

int32_t hs_thread_ids(hs_target *t, int64_t *ids, uint32_t cap, uint32_t *count) {
  if (!t || !count || (!ids && cap)) return HS_ERR_ARG;
  if (!t->suspended) {
    set_err("hs_thread_ids: process %d is not stopped", t->pid);
    return HS_ERR_STATE;
  }
  *count = t->nthreads;
  if (cap < t->nthreads) {
    set_err("hs_thread_ids: buffer holds %u ids, %u needed", cap, t->nthreads);
    return HS_ERR_ARG;
  }
  for (uint32_t i = 0; i < t->nthreads; i++) ids[i] = (int64_t)t->threads[i];
  return HS_OK;
}

int32_t hs_thread_regs(hs_target *t, uint32_t index, uint32_t kind, uint8_t *buf, uint32_t cap,
                       uint32_t *len) {
  if (!t || !len || (!buf && cap)) return HS_ERR_ARG;
  if (!t->suspended) {
    set_err("hs_thread_regs: process %d is not stopped", t->pid);
    return HS_ERR_STATE;
  }
  if (index >= t->nthreads) {
    set_err("hs_thread_regs: thread index %u out of range (%u threads)", index, t->nthreads);
    return HS_ERR_ARG;
  }
  thread_act_t th = t->threads[index];
  if (kind == 2) {
    /* The TSD base (pthread_self's tsd[] on arm64 TPIDRRO_EL0, gs base on x86_64) is what the
     * kernel reports as thread_handle: the same value on both architectures, no private flavor. */
    thread_identifier_info_data_t info;
    mach_msg_type_number_t cnt = THREAD_IDENTIFIER_INFO_COUNT;
    uint64_t tsd = 0;
    if (thread_info(th, THREAD_IDENTIFIER_INFO, (thread_info_t)&info, &cnt) == KERN_SUCCESS) {
      tsd = HS_STRIP(info.thread_handle);
    }
    *len = 8;
    if (cap < 8) return HS_ERR_ARG;
    memcpy(buf, &tsd, 8);
    return HS_OK;
  }
  if (kind > 2) {
    set_err("hs_thread_regs: unknown register kind %u", kind);
    return HS_ERR_ARG;
  }
  /* Large enough for every flavor used here (NEON state is the largest at 528 bytes). */
  natural_t state[160];
  mach_msg_type_number_t cnt = kind == 0 ? HS_GPR_COUNT : HS_FPR_COUNT;
  thread_state_flavor_t flavor = kind == 0 ? HS_GPR_FLAVOR : HS_FPR_FLAVOR;
  _Static_assert(sizeof(natural_t) * 160 >= 528, "state buffer too small");
  kern_return_t kr = thread_get_state(th, flavor, (thread_state_t)state, &cnt);
  if (kr != KERN_SUCCESS) {
    set_err("hs_thread_regs: thread_get_state(thread %u, flavor %d) failed: %s", index, flavor,
            mach_error_string(kr));
    return kr_status(kr) == HS_ERR_EXITED ? HS_ERR_EXITED : HS_ERR_INTERNAL;
  }
  uint32_t bytes = cnt * (uint32_t)sizeof(natural_t);
  *len = bytes;
  if (cap < bytes) {
    set_err("hs_thread_regs: buffer holds %u bytes, %u needed", cap, bytes);
    return HS_ERR_ARG;
  }
  memcpy(buf, state, bytes);
  return HS_OK;
}

/* -------------------------------------------------------------- regions */

int32_t hs_regions(hs_target *t, uint64_t *records, uint32_t cap, uint32_t *count) {
  if (!t || !count || (!records && cap)) return HS_ERR_ARG;
  if (!t->suspended) {
    set_err("hs_regions: process %d is not stopped", t->pid);
    return HS_ERR_STATE;
  }
  mach_vm_address_t addr = 0;
  natural_t depth = 0;
  uint32_t n = 0;
  for (;;) {
    mach_vm_size_t size = 0;
    vm_region_submap_info_data_64_t info;
    mach_msg_type_number_t cnt = VM_REGION_SUBMAP_INFO_COUNT_64;
    kern_return_t kr =
        mach_vm_region_recurse(t->task, &addr, &size, &depth, (vm_region_recurse_info_t)&info, &cnt);
    if (kr == KERN_INVALID_ADDRESS) break; /* past the last region */
    if (kr != KERN_SUCCESS) {
      set_err("hs_regions: mach_vm_region_recurse at 0x%llx failed: %s",
              (unsigned long long)addr, mach_error_string(kr));
      return kr_status(kr) == HS_ERR_EXITED ? HS_ERR_EXITED : HS_ERR_INTERNAL;
    }
    if (info.is_submap) { /* descend (the shared region is a submap) */
      depth++;
      continue;
    }
    if (n < cap) {
      uint64_t *r = records + 4 * (uint64_t)n;
      r[0] = addr;
      r[1] = addr + size;
      /* VM_PROT_READ/WRITE/EXECUTE are 1/2/4: the ABI's bits, by design. */
      r[2] = (uint64_t)(info.protection & (VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE));
      r[3] = info.user_tag;
    }
    n++;
    addr += size;
  }
  *count = n;
  if (n > cap) {
    set_err("hs_regions: buffer holds %u regions, %u needed", cap, n);
    return HS_ERR_ARG;
  }
  return HS_OK;
}

/* --------------------------------------------------------------- images */

static int32_t read_dyld_infos(hs_target *t, struct dyld_all_image_infos *infos) {
  struct task_dyld_info di;
  mach_msg_type_number_t cnt = TASK_DYLD_INFO_COUNT;
  kern_return_t kr = task_info(t->task, TASK_DYLD_INFO, (task_info_t)&di, &cnt);
  if (kr != KERN_SUCCESS) {
    set_err("task_info(TASK_DYLD_INFO) for process %d failed: %s", t->pid, mach_error_string(kr));
    return kr_status(kr) == HS_ERR_EXITED ? HS_ERR_EXITED : HS_ERR_INTERNAL;
  }
  if (di.all_image_info_format != TASK_DYLD_ALL_IMAGE_INFO_64) {
    set_err("Process %d is a 32-bit process: not supported", t->pid);
    return HS_ERR_UNSUPPORTED;
  }
  memset(infos, 0, sizeof *infos);
  uint64_t want = di.all_image_info_size < sizeof *infos ? di.all_image_info_size : sizeof *infos;
  if (read_range(t->task, di.all_image_info_addr, want, (uint8_t *)infos) != 0) {
    set_err("Cannot read dyld_all_image_infos of process %d at 0x%llx", t->pid,
            (unsigned long long)di.all_image_info_addr);
    return HS_ERR_IO;
  }
  return HS_OK;
}

static int put_image(uint8_t *buf, uint32_t cap, uint32_t *used, uint64_t addr, const char *path) {
  size_t plen = strlen(path) + 1;
  uint32_t need = (uint32_t)(8 + plen);
  if (*used + need <= cap) {
    memcpy(buf + *used, &addr, 8);
    memcpy(buf + *used + 8, path, plen);
  }
  *used += need;
  return 0;
}

int32_t hs_images(hs_target *t, uint8_t *buf, uint32_t cap, uint32_t *len, uint32_t *count) {
  if (!t || !len || !count || (!buf && cap)) return HS_ERR_ARG;
  if (!t->suspended) {
    set_err("hs_images: process %d is not stopped", t->pid);
    return HS_ERR_STATE;
  }
  struct dyld_all_image_infos infos;
  int32_t st = read_dyld_infos(t, &infos);
  if (st != HS_OK) return st;
  if (infos.infoArray == NULL) {
    set_err("dyld of process %d was updating its image list when it was stopped: try again",
            t->pid);
    return HS_ERR_STATE;
  }
  uint32_t n = infos.infoArrayCount;
  struct dyld_image_info *arr = calloc(n ? n : 1, sizeof *arr);
  if (!arr) return HS_ERR_INTERNAL;
  if (read_range(t->task, HS_STRIP(infos.infoArray), (uint64_t)n * sizeof *arr, (uint8_t *)arr)) {
    free(arr);
    set_err("Cannot read dyld's image array of process %d (%u entries)", t->pid, n);
    return HS_ERR_IO;
  }
  char path[4096];
  uint32_t used = 0, records = 0, unnamed = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (read_cstring(t->task, HS_STRIP(arr[i].imageFilePath), path, sizeof path) != 0) {
      snprintf(path, sizeof path, "?");
      unnamed++;
    }
    put_image(buf, cap, &used, HS_STRIP(arr[i].imageLoadAddress), path);
    records++;
  }
  free(arr);
  /* dyld itself is not in infoArray; its writable data can hold pointers into the heap. */
  if (infos.version >= 15 && infos.dyldImageLoadAddress) {
    if (read_cstring(t->task, HS_STRIP(infos.dyldPath), path, sizeof path) != 0) {
      snprintf(path, sizeof path, "/usr/lib/dyld");
    }
    put_image(buf, cap, &used, HS_STRIP(infos.dyldImageLoadAddress), path);
    records++;
  }
  *len = used;
  *count = records;
  if (used > cap) {
    set_err("hs_images: buffer holds %u bytes, %u needed", cap, used);
    return HS_ERR_ARG;
  }
  if (unnamed) set_err("%u image paths were unreadable and are reported as \"?\"", unnamed);
  else g_err[0] = 0;
  return HS_OK;
}

/* ---------------------------------------------------------------- zones */

/* The reader has no context argument: the target being enumerated is thread-local state. */
static __thread hs_target *g_reader_target;

static void free_reader_bufs(hs_target *t) {
  for (size_t i = 0; i < t->nbufs; i++) free(t->bufs[i]);
  t->nbufs = 0;
}

static kern_return_t hs_reader(task_t task, vm_address_t remote, vm_size_t size, void **local) {
  hs_target *t = g_reader_target;
  if (!t || !local) return KERN_FAILURE;
  if (t->nbufs == t->capbufs) {
    size_t nc = t->capbufs ? t->capbufs * 2 : 64;
    void **nb = realloc(t->bufs, nc * sizeof *nb);
    if (!nb) return KERN_RESOURCE_SHORTAGE;
    t->bufs = nb;
    t->capbufs = nc;
  }
  void *mem = malloc(size ? size : 1);
  if (!mem) return KERN_RESOURCE_SHORTAGE;
  mach_vm_size_t got = 0;
  kern_return_t kr = KERN_SUCCESS;
  if (size) {
    kr = mach_vm_read_overwrite(task, HS_STRIP(remote), size, (mach_vm_address_t)(uintptr_t)mem,
                                &got);
  }
  if (kr != KERN_SUCCESS || got != size) {
    free(mem);
    return kr != KERN_SUCCESS ? kr : KERN_FAILURE;
  }
  t->bufs[t->nbufs++] = mem;
  *local = mem;
  return KERN_SUCCESS;
}

struct zone_ctx {
  hs_target *t;
  uint64_t zone;
  int oom;
};

static void hs_recorder(task_t task, void *context, unsigned type, vm_range_t *ranges,
                        unsigned count) {
  (void)task;
  struct zone_ctx *c = context;
  if (!c || c->oom || !(type & MALLOC_PTR_IN_USE_RANGE_TYPE)) return;
  hs_target *t = c->t;
  if (t->zcount + count > t->zcap) {
    uint64_t nc = t->zcap ? t->zcap * 2 : 4096;
    while (nc < t->zcount + count) nc *= 2;
    uint64_t *nr = realloc(t->zrec, nc * 3 * sizeof *nr);
    if (!nr) {
      c->oom = 1;
      return;
    }
    t->zrec = nr;
    t->zcap = nc;
  }
  for (unsigned i = 0; i < count; i++) {
    uint64_t *r = t->zrec + 3 * t->zcount++;
    r[0] = HS_STRIP(ranges[i].address);
    r[1] = ranges[i].size;
    r[2] = c->zone;
  }
}

static void append(char **buf, size_t *len, const char *s, size_t n) {
  char *nb = realloc(*buf, *len + n + 1);
  if (!nb) return;
  memcpy(nb + *len, s, n);
  *len += n;
  nb[*len] = 0;
  *buf = nb;
}

static void warn_zone(hs_target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_zone(hs_target *t, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  append(&t->zwarnings, &t->zwarnings_len, line, (size_t)n);
}

typedef kern_return_t (*hs_enumerator_fn)(task_t, void *, unsigned, vm_address_t, memory_reader_t,
                                          vm_range_recorder_t);

static int32_t enumerate_zones(hs_target *t) {
  size_t cache_len = 0;
  uint64_t cache_lo = (uint64_t)(uintptr_t)_dyld_get_shared_cache_range(&cache_len);
  uint64_t cache_hi = cache_lo + cache_len;
  struct dyld_all_image_infos infos;
  int32_t st = read_dyld_infos(t, &infos);
  if (st != HS_OK) return st;
  int same_cache = cache_lo != 0 && infos.version >= 15 &&
                   HS_STRIP(infos.sharedCacheBaseAddress) == cache_lo;
  if (!same_cache) {
    warn_zone(t, "target shared cache at 0x%llx is not ours (0x%llx): every zone skipped, since "
                 "calling its enumerators would run code we do not have mapped",
              (unsigned long long)HS_STRIP(infos.sharedCacheBaseAddress),
              (unsigned long long)cache_lo);
  }

  g_reader_target = t;
  vm_address_t *remote_zones = NULL;
  unsigned nzones = 0;
  kern_return_t kr = malloc_get_all_zones(t->task, hs_reader, &remote_zones, &nzones);
  if (kr != KERN_SUCCESS) {
    g_reader_target = NULL;
    free_reader_bufs(t);
    set_err("malloc_get_all_zones for process %d failed: %s", t->pid, mach_error_string(kr));
    return kr_status(kr) == HS_ERR_EXITED ? HS_ERR_EXITED : HS_ERR_INTERNAL;
  }
  /* remote_zones lives in a reader buffer: copy it before buffers are recycled per zone. */
  uint64_t *zones = calloc(nzones ? nzones : 1, sizeof *zones);
  if (!zones) {
    g_reader_target = NULL;
    free_reader_bufs(t);
    return HS_ERR_INTERNAL;
  }
  for (unsigned i = 0; i < nzones; i++) zones[i] = HS_STRIP(remote_zones[i]);
  free_reader_bufs(t);

  for (unsigned z = 0; z < nzones; z++) {
    char name[256];
    malloc_zone_t zone;
    memset(&zone, 0, sizeof zone);
    /* Zones older than the current struct are shorter: the fields we need come first. */
    size_t need = offsetof(malloc_zone_t, version) + sizeof zone.version;
    if (read_range(t->task, zones[z], sizeof zone, (uint8_t *)&zone) != 0 &&
        read_range(t->task, zones[z], need, (uint8_t *)&zone) != 0) {
      snprintf(name, sizeof name, "zone@0x%llx", (unsigned long long)zones[z]);
      append(&t->znames, &t->znames_len, name, strlen(name) + 1);
      warn_zone(t, "zone %u (%s): zone struct unreadable, skipped", z, name);
      continue;
    }
    if (read_cstring(t->task, HS_STRIP(zone.zone_name), name, sizeof name) != 0 || !name[0]) {
      snprintf(name, sizeof name, "zone@0x%llx", (unsigned long long)zones[z]);
    }
    append(&t->znames, &t->znames_len, name, strlen(name) + 1);
    if (!same_cache) continue;

    malloc_introspection_t intro;
    memset(&intro, 0, sizeof intro);
    uint64_t intro_addr = HS_STRIP((uintptr_t)zone.introspect);
    if (intro_addr == 0 ||
        read_range(t->task, intro_addr, sizeof intro.enumerator, (uint8_t *)&intro) != 0) {
      warn_zone(t, "zone %u (%s): introspection table unreadable at 0x%llx, skipped", z, name,
                (unsigned long long)intro_addr);
      continue;
    }
    uint64_t fn = HS_STRIP((uintptr_t)intro.enumerator);
    if (fn < cache_lo || fn >= cache_hi) {
      warn_zone(t, "zone %u (%s): enumerator 0x%llx lies outside the shared cache "
                   "[0x%llx, 0x%llx), skipped: calling it would run unknown code",
                z, name, (unsigned long long)fn, (unsigned long long)cache_lo,
                (unsigned long long)cache_hi);
      continue;
    }
    struct zone_ctx ctx = {t, z, 0};
    hs_enumerator_fn enumerator = (hs_enumerator_fn)(uintptr_t)fn;
    kr = enumerator(t->task, &ctx, MALLOC_PTR_IN_USE_RANGE_TYPE, (vm_address_t)zones[z], hs_reader,
                    hs_recorder);
    free_reader_bufs(t);
    if (ctx.oom) {
      free(zones);
      g_reader_target = NULL;
      set_err("Out of memory recording allocations of zone %s", name);
      return HS_ERR_INTERNAL;
    }
    if (kr != KERN_SUCCESS) {
      warn_zone(t, "zone %u (%s): enumerator failed (%s); its allocations may be incomplete", z,
                name, mach_error_string(kr));
    }
  }
  free(zones);
  g_reader_target = NULL;
  return HS_OK;
}

int32_t hs_zone_allocations(hs_target *t, uint64_t *records, uint64_t cap, uint64_t *count,
                            char *zone_names, uint32_t names_cap) {
  if (!t || !count || (!records && cap) || (!zone_names && names_cap)) return HS_ERR_ARG;
  if (!t->zones_done) {
    if (!t->suspended) {
      set_err("hs_zone_allocations: process %d is not stopped", t->pid);
      return HS_ERR_STATE;
    }
    t->zones_status = enumerate_zones(t);
    t->zones_done = 1;
  }
  if (t->zones_status != HS_OK) return t->zones_status;
  *count = t->zcount;
  if (cap < t->zcount || names_cap < t->znames_len + 1) {
    set_err("hs_zone_allocations: buffers hold %llu records and %u name bytes; %llu and %zu "
            "needed",
            (unsigned long long)cap, names_cap, (unsigned long long)t->zcount, t->znames_len + 1);
    return HS_ERR_ARG;
  }
  if (t->zcount) memcpy(records, t->zrec, t->zcount * 3 * sizeof *records);
  if (t->znames_len) memcpy(zone_names, t->znames, t->znames_len);
  zone_names[t->znames_len] = 0;
  snprintf(g_err, sizeof g_err, "%s", t->zwarnings ? t->zwarnings : "");
  return HS_OK;
}

/* ------------------------------------------------------------ Linux-only entry points */

int32_t hs_run_threads(hs_target *t, const uint32_t *indices, uint32_t n, uint32_t run_us,
                       uint32_t timeout_ms, uint32_t *ran, uint32_t *added) {
  (void)t, (void)indices, (void)n, (void)run_us, (void)timeout_ms;
  if (ran) *ran = 0;
  if (added) *added = 0;
  set_err("hs_run_threads: not supported on macOS (the task is suspended as a whole)");
  return HS_ERR_UNSUPPORTED;
}

int32_t hs_resident_ranges(int32_t pid, const uint64_t *ranges, uint32_t n, uint64_t *out,
                           uint32_t cap, uint32_t *count, uint64_t *cursor, uint32_t *method) {
  (void)pid, (void)ranges, (void)n, (void)out, (void)cap, (void)cursor;
  if (count) *count = 0;
  if (method) *method = 0;
  set_err("hs_resident_ranges: not supported on macOS");
  return HS_ERR_UNSUPPORTED;
}

/* ------------------------------------------------------------ destination buffers */

/* The same contract as on Linux (shim/heapscope.h); macOS has no MADV_HUGEPAGE, so `*advised` is 0
 * and the buffer is only aligned. */
#define HS_HUGE_PAGE (2ull << 20)

int32_t hs_buffer_alloc(uint64_t len, uint32_t huge, uint64_t *ptr, uint64_t *mapped,
                        uint32_t *advised) {
  (void)huge;
  if (!ptr || !mapped || !advised || len == 0) {
    set_err("hs_buffer_alloc: NULL argument or zero length");
    return HS_ERR_ARG;
  }
  *ptr = 0;
  *mapped = 0;
  *advised = 0;
  uint64_t size = (len + HS_HUGE_PAGE - 1) & ~(HS_HUGE_PAGE - 1);
  if (size < len) {
    set_err("hs_buffer_alloc: %llu bytes is too large", (unsigned long long)len);
    return HS_ERR_ARG;
  }
  uint8_t *raw = mmap(NULL, size + HS_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON,
                      -1, 0);
  if (raw == MAP_FAILED) {
    int err = errno;
    set_err("cannot map %llu bytes for the copy: %s", (unsigned long long)size, strerror(err));
    return HS_ERR_INTERNAL;
  }
  uintptr_t base = ((uintptr_t)raw + HS_HUGE_PAGE - 1) & ~(uintptr_t)(HS_HUGE_PAGE - 1);
  size_t head = base - (uintptr_t)raw, tail = HS_HUGE_PAGE - head;
  if (head > 0) (void)munmap(raw, head);
  if (tail > 0) (void)munmap((uint8_t *)base + size, tail);
  *ptr = (uint64_t)base;
  *mapped = size;
  return HS_OK;
}

int32_t hs_buffer_populate(uint64_t ptr, uint64_t from, uint64_t to, uint64_t *huge_bytes) {
  if (!ptr || !huge_bytes || from > to) {
    set_err("hs_buffer_populate: bad arguments");
    return HS_ERR_ARG;
  }
  *huge_bytes = 0;
  long pagesz = sysconf(_SC_PAGESIZE);
  uint64_t page = pagesz > 0 ? (uint64_t)pagesz : 16384;
  for (uint64_t p = (ptr + from) & ~(page - 1); p < ptr + to; p += page) {
    *(volatile uint8_t *)(uintptr_t)p = 0;
  }
  return HS_OK;
}

int32_t hs_buffer_free(uint64_t ptr, uint64_t mapped) {
  if (!ptr || !mapped) return HS_OK;
  if (munmap((void *)(uintptr_t)ptr, mapped) < 0) {
    int err = errno;
    set_err("munmap of a copy buffer: %s", strerror(err));
    return HS_ERR_INTERNAL;
  }
  return HS_OK;
}

int32_t hs_buffer_discard(uint64_t ptr, uint64_t len) {
  long pagesz = sysconf(_SC_PAGESIZE);
  uint64_t page = pagesz > 0 ? (uint64_t)pagesz : 16384;
  if (!ptr || len > UINT64_MAX - ptr) {
    set_err("hs_buffer_discard: bad arguments");
    return HS_ERR_ARG;
  }
  uint64_t from = (ptr + page - 1) & ~(page - 1), to = (ptr + len) & ~(page - 1);
  if (to <= from) return HS_OK;
  /* Fresh zero pages over the range: the pages under it go back to the system at once (madvise's
   * MADV_FREE would leave the old bytes readable until the system takes them). */
  void *p = mmap((void *)(uintptr_t)from, to - from, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    set_err("mmap over a copy buffer: %s", strerror(errno));
    return HS_ERR_INTERNAL;
  }
  return HS_OK;
}

/* ------------------------------------------------------------ lifecycle */

int32_t hs_alive(hs_target *t) {
  if (!t || t->task == MACH_PORT_NULL) return 0;
  struct mach_task_basic_info info;
  mach_msg_type_number_t cnt = MACH_TASK_BASIC_INFO_COUNT;
  if (task_info(t->task, MACH_TASK_BASIC_INFO, (task_info_t)&info, &cnt) != KERN_SUCCESS) return 0;
  return t->suspended ? 1 : 0;
}

int32_t hs_resume(hs_target *t) {
  if (!t) return HS_ERR_ARG;
  do_resume(t);
  return HS_OK;
}

void hs_close(hs_target *t) {
  if (!t) return;
  do_resume(t);
  if (t->task != MACH_PORT_NULL) {
    mach_port_deallocate(mach_task_self(), t->task);
    t->task = MACH_PORT_NULL;
  }
  free_reader_bufs(t);
  free(t->bufs);
  free(t->zrec);
  free(t->znames);
  free(t->zwarnings);
  free(t);
}
