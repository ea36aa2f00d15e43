/**
 * The glibc malloc settings a benchmark ran under. onnxruntime's and
 * Node's transient buffers of a few MB are trimmed back to the system by default and
 * page-faulted in again on the next call; the server's `tuneMallocAtStart` (which `talkies serve`
 * applies) or the `MALLOC_*` variables change that (docs/deploy.md).
 */
/** glibc's allocator variables that talkies sets (or leaves as the environment sets them). */
export const MALLOC_NAMES = ['MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX'];

export function mallocSettings(environment = process.env, tuning = undefined) {
  if (tuning?.applied) {
    const { arenaMax, trimThreshold, mmapThreshold } = tuning.settings;
    const how = tuning.via === 'environment' ? 'the process executed again with MALLOC_* variables' : 'mallopt';
    return `set as \`talkies serve\` sets it (${how}): arena max ${arenaMax}, trim threshold ${trimThreshold / 2 ** 20} MiB, mmap threshold ${mmapThreshold / 2 ** 20} MiB`;
  }
  const set = MALLOC_NAMES.filter((name) => environment[name] !== undefined).map((name) => `${name}=${environment[name]}`);
  const described = set.length > 0 ? set.join(' ') : 'glibc defaults (no MALLOC_* variables)';
  return tuning ? `${described} (not tuned: ${tuning.reason})` : described;
}
