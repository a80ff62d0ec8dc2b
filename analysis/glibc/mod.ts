// Public surface of the glibc malloc parser: live allocations and allocator detection.

export { enumerateGlibc } from "./enumerate_glibc.ts";
export { type AllocatorDetection, detectAllocator, foreignLibrary } from "./detect_allocator.ts";
export {
  MALLOC_FUNCTIONS,
  mallocFunctionAt,
  type MallocFunctionRange,
  mallocFunctionRanges,
} from "./malloc_functions.ts";
