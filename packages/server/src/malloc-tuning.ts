/**
 * glibc's allocator, set for a server whose models allocate and free buffers of megabytes
 * on every decoder call, in worker threads.
 *
 * By default glibc gives each thread that allocates its own arena and hands freed memory
 * at the top of a thread's heap back to the system; the model's next call takes it again,
 * page fault by page fault. onnxruntime-node copies every output into a fresh buffer (the
 * logits of every step, the caches of every prompt step), so a model thread frees and
 * faults in megabytes per call, which is dear where a page fault is expensive (about 10 µs
 * on the VM the benchmarks ran on, against well under 1 µs on bare metal). With one arena
 * for the process, freed memory kept up to {@link TRIM_THRESHOLD} bytes, and blocks under
 * {@link MMAP_THRESHOLD} taken from the heap (not mapped and unmapped each time), the pages
 * stay in the process (docs/benchmarks.md, "Page faults in the model's thread").
 *
 * `talkies serve` applies this at start, before any model thread exists, through
 * `mallopt` (koffi). It leaves the allocator alone when the environment already sets
 * glibc's malloc variables (`MALLOC_ARENA_MAX`, `MALLOC_TRIM_THRESHOLD_`,
 * `MALLOC_MMAP_THRESHOLD_`, or malloc tunables in `GLIBC_TUNABLES`), when
 * `TALKIES_MALLOC_TUNING=off`, and where there is no glibc (macOS, musl). The cost is
 * resident memory: up to the trim threshold of freed memory stays in the process after a
 * peak.
 */
import { createRequire } from 'node:module';

/** mallopt parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

export const TRIM_THRESHOLD = 256 * 2 ** 20;
export const MMAP_THRESHOLD = 32 * 2 ** 20;

export type MallocTuning =
  | { applied: true; settings: Record<'arenaMax' | 'trimThreshold' | 'mmapThreshold', number> }
  | { applied: false; reason: string };

/** Whether this process runs on glibc (Linux with glibc, not musl). */
export function onGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime !== undefined;
}

/** The variables of `environment` that set glibc's allocator themselves (then left as they say). */
export function mallocVariablesSet(environment: NodeJS.ProcessEnv): string[] {
  const set = ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_'].filter((name) => environment[name] !== undefined);
  if (/glibc\.malloc\./.test(environment.GLIBC_TUNABLES ?? '')) set.push('GLIBC_TUNABLES');
  return set;
}

/** Sets glibc's allocator as described above, unless told or found not to; says what it did. */
export function tuneMalloc(environment: NodeJS.ProcessEnv = process.env): MallocTuning {
  if ((environment.TALKIES_MALLOC_TUNING ?? '').trim().toLowerCase() === 'off') return { applied: false, reason: 'TALKIES_MALLOC_TUNING=off' };
  const set = mallocVariablesSet(environment);
  if (set.length > 0) return { applied: false, reason: `the environment sets ${set.join(', ')}` };
  if (!onGlibc()) return { applied: false, reason: 'not glibc' };
  let mallopt: (parameter: number, value: number) => number;
  try {
    // koffi is a dependency, but a platform without its prebuilt binary must still start.
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    mallopt = koffi.load('libc.so.6').func('int mallopt(int parameter, int value)') as typeof mallopt;
  } catch (error) {
    return { applied: false, reason: `mallopt is not reachable (${(error as Error).message})` };
  }
  const settings = { arenaMax: 1, trimThreshold: TRIM_THRESHOLD, mmapThreshold: MMAP_THRESHOLD };
  // mallopt answers 1 on success, 0 on an invalid value.
  const refused = [
    [M_ARENA_MAX, settings.arenaMax, 'M_ARENA_MAX'],
    [M_TRIM_THRESHOLD, settings.trimThreshold, 'M_TRIM_THRESHOLD'],
    [M_MMAP_THRESHOLD, settings.mmapThreshold, 'M_MMAP_THRESHOLD'],
  ].filter(([parameter, value]) => mallopt(parameter as number, value as number) !== 1).map(([, , name]) => name);
  if (refused.length > 0) return { applied: false, reason: `mallopt refused ${refused.join(', ')}` };
  return { applied: true, settings };
}
