/**
 * glibc's allocator, set for a server whose models allocate and free buffers of megabytes
 * on every decoder call, in worker threads.
 *
 * By default glibc gives each thread that allocates its own arena and hands freed memory
 * at the top of a thread's heap back to the system; the model's next call takes it again,
 * page fault by page fault. onnxruntime-node copies every output into a fresh buffer (the
 * logits of every step, the caches of every prompt step), so a model thread frees and
 * faults in megabytes per call, which is dear where a page fault is expensive (about 13 µs
 * on the VM the benchmarks ran on, against well under 1 µs on bare metal). With one arena
 * for the process, freed memory kept up to {@link TRIM_THRESHOLD} bytes, and blocks under
 * {@link MMAP_THRESHOLD} taken from the heap (not mapped and unmapped each time), the pages
 * stay in the process (docs/benchmarks.md, "Page faults in the model's thread").
 *
 * These settings must hold from the process's first allocation. By the time JavaScript
 * runs, Node's own threads have made arenas of their own, and `mallopt(M_ARENA_MAX, 1)`
 * only stops new ones: a model's worker thread then shares one of those, whose heaps glibc
 * maps and unmaps (64 MiB each) as the model's buffers come and go. So `talkies serve`
 * starts with {@link tuneMallocAtStart}, which executes the process again in place (same
 * PID, same arguments, `process.execve`) with glibc's variables set, and clears them from
 * the environment once they have taken effect, so that child processes (ffmpeg) start with
 * the environment the server was given. Where `process.execve` is missing it falls back to
 * {@link tuneMalloc} (`mallopt` through koffi), which is all an already running process can
 * do.
 *
 * Nothing is changed when the environment already sets glibc's malloc variables
 * (`MALLOC_ARENA_MAX`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`, or malloc
 * tunables in `GLIBC_TUNABLES`), when `TALKIES_MALLOC_TUNING=off`, and where there is no
 * glibc (macOS, musl). The cost is resident memory: up to the trim threshold of freed
 * memory stays in the process after a peak.
 */
import { createRequire } from 'node:module';

/** mallopt parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

export const TRIM_THRESHOLD = 256 * 2 ** 20;
export const MMAP_THRESHOLD = 32 * 2 ** 20;

type Settings = Record<'arenaMax' | 'trimThreshold' | 'mmapThreshold', number>;

export type MallocTuning =
  /** `via`: glibc's variables from the process's start, or `mallopt` in the running process. */
  | { applied: true; via: 'environment' | 'mallopt'; settings: Settings }
  | { applied: false; reason: string };

const SETTINGS: Settings = { arenaMax: 1, trimThreshold: TRIM_THRESHOLD, mmapThreshold: MMAP_THRESHOLD };

/** glibc's variables for {@link SETTINGS}, as {@link tuneMallocAtStart} starts the process with them. */
export const MALLOC_ENVIRONMENT: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: String(SETTINGS.arenaMax),
  MALLOC_TRIM_THRESHOLD_: String(SETTINGS.trimThreshold),
  MALLOC_MMAP_THRESHOLD_: String(SETTINGS.mmapThreshold),
};

/** Set beside {@link MALLOC_ENVIRONMENT} by the re-execution: those variables are talkies', not the user's. */
const MARKER = 'TALKIES_MALLOC_TUNED';

/** What the first call of {@link tuneMallocAtStart} found: the environment is cleared after it. */
let atStart: MallocTuning | undefined;

/** Whether this process runs on glibc (Linux with glibc, not musl). */
export function onGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime !== undefined;
}

/** The variables of `environment` that set glibc's allocator themselves (then left as they say). */
export function mallocVariablesSet(environment: NodeJS.ProcessEnv): string[] {
  const set = Object.keys(MALLOC_ENVIRONMENT).filter((name) => environment[name] !== undefined);
  if (/glibc\.malloc\./.test(environment.GLIBC_TUNABLES ?? '')) set.push('GLIBC_TUNABLES');
  return set;
}

/** Why the allocator is to be left as it is, or undefined when talkies may set it. */
function leaveAlone(environment: NodeJS.ProcessEnv): string | undefined {
  if ((environment.TALKIES_MALLOC_TUNING ?? '').trim().toLowerCase() === 'off') return 'TALKIES_MALLOC_TUNING=off';
  const set = mallocVariablesSet(environment);
  if (set.length > 0) return `the environment sets ${set.join(', ')}`;
  if (!onGlibc()) return 'not glibc';
  return undefined;
}

/**
 * For the start of a process, before it does anything else: executes it again in place with
 * glibc's variables (this call does not return then), or, once they are in effect, says so
 * and removes them from `process.env`. Falls back to {@link tuneMalloc} where the process
 * cannot be executed again. Answers the same on later calls.
 */
export function tuneMallocAtStart(): MallocTuning {
  if (atStart) return atStart;
  const environment = process.env;
  if (environment[MARKER] !== undefined) {
    // Executed again already: never a second time, whatever arrived.
    delete environment[MARKER];
    if (Object.entries(MALLOC_ENVIRONMENT).every(([name, value]) => environment[name] === value)) {
      for (const name of Object.keys(MALLOC_ENVIRONMENT)) delete environment[name];
      return (atStart = { applied: true, via: 'environment', settings: { ...SETTINGS } });
    }
    // The variables did not arrive as set (a secure-mode start drops some): what mallopt can do.
    return (atStart = tuneMalloc(environment));
  }
  const reason = leaveAlone(environment);
  if (reason) return (atStart = { applied: false, reason });
  // A process with an IPC channel to its parent (a process manager's fork) would lose it.
  if (typeof process.execve === 'function' && !process.channel) {
    try {
      process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...environment, ...MALLOC_ENVIRONMENT, [MARKER]: '1' });
    } catch {
      // Not allowed here (a seccomp profile, say): set what a running process can.
    }
  }
  return (atStart = tuneMalloc(environment));
}

/**
 * Sets glibc's allocator from inside the running process (`mallopt`), unless told or found
 * not to; says what it did. Weaker than {@link tuneMallocAtStart}: arenas that Node's
 * threads made before it keep glibc's behaviour, and a model thread may share one of them.
 */
export function tuneMalloc(environment: NodeJS.ProcessEnv = process.env): MallocTuning {
  const reason = leaveAlone(environment);
  if (reason) return { applied: false, reason };
  let mallopt: (parameter: number, value: number) => number;
  try {
    // koffi is a dependency, but a platform without its prebuilt binary must still start.
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    mallopt = koffi.load('libc.so.6').func('int mallopt(int parameter, int value)') as typeof mallopt;
  } catch (error) {
    return { applied: false, reason: `mallopt is not reachable (${(error as Error).message})` };
  }
  // mallopt answers 1 on success, 0 on an invalid value.
  const refused = [
    [M_ARENA_MAX, SETTINGS.arenaMax, 'M_ARENA_MAX'],
    [M_TRIM_THRESHOLD, SETTINGS.trimThreshold, 'M_TRIM_THRESHOLD'],
    [M_MMAP_THRESHOLD, SETTINGS.mmapThreshold, 'M_MMAP_THRESHOLD'],
  ].filter(([parameter, value]) => mallopt(parameter as number, value as number) !== 1).map(([, , name]) => name);
  if (refused.length > 0) return { applied: false, reason: `mallopt refused ${refused.join(', ')}` };
  return { applied: true, via: 'mallopt', settings: { ...SETTINGS } };
}
