/**
 * The glibc malloc settings a benchmark ran under (children inherit them). onnxruntime's and
 * Node's transient buffers of a few MB are trimmed back to the system by default and
 * page-faulted in again on the next call; `MALLOC_TRIM_THRESHOLD_` and
 * `MALLOC_MMAP_THRESHOLD_` change that (see README, "Memory allocator").
 */
const NAMES = ['MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX'];

export function mallocSettings(environment = process.env) {
  const set = NAMES.filter((name) => environment[name] !== undefined).map((name) => `${name}=${environment[name]}`);
  return set.length > 0 ? set.join(' ') : 'glibc defaults (no MALLOC_* variables)';
}
