/**
 * How many intra-op threads an engine's onnxruntime sessions get when the model's options
 * leave it open.
 *
 * onnxruntime's own default (`intraOpNumThreads` unset) is meant to be one thread per
 * physical core, but it does not always find them: on a 2-core virtual machine it ran one
 * thread (whisper-base's encoder: 605 ms unset, 598 ms with 1 thread, 310 ms with 2; see
 * docs/benchmarks.md). Engines therefore set the count themselves: one thread per physical
 * core this process may use. Logical CPUs beyond that (SMT siblings) add little to the
 * compute-bound matrix products and share the same memory bandwidth.
 *
 * `TALKIES_INFERENCE_THREADS` in the environment overrides that for every model whose
 * options name no count: for a machine that runs several models at once (or, like the test
 * suite, several processes), where one thread each can beat every model on every core.
 * Read from the environment so that it reaches the worker threads models run in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * Physical cores of the machine (distinct package and core ids under Linux's
 * `/sys/devices/system/cpu/cpuN/topology`), or undefined where that cannot be read.
 */
export function physicalCoreCount(cpuRoot = '/sys/devices/system/cpu'): number | undefined {
  let names: string[];
  try {
    names = readdirSync(cpuRoot).filter((name) => /^cpu\d+$/.test(name));
  } catch {
    return undefined;
  }
  const cores = new Set<string>();
  for (const name of names) {
    try {
      const topology = join(cpuRoot, name, 'topology');
      const core = readFileSync(join(topology, 'core_id'), 'utf8').trim();
      const pkg = readFileSync(join(topology, 'physical_package_id'), 'utf8').trim();
      cores.add(`${pkg}:${core}`);
    } catch {
      // An offline CPU has no topology directory: it is not counted.
    }
  }
  return cores.size > 0 ? cores.size : undefined;
}

/**
 * The CPU quota of this process's cgroup (v2 `cpu.max`: `quota period`, or `max period`
 * without one) in whole CPUs, rounded up; undefined without a quota or a readable file.
 */
export function cgroupCpuQuota(cpuMaxPath = '/sys/fs/cgroup/cpu.max'): number | undefined {
  let text: string;
  try {
    text = readFileSync(cpuMaxPath, 'utf8');
  } catch {
    return undefined;
  }
  const [quota, period] = text.trim().split(/\s+/);
  const cpus = Number(quota) / Number(period ?? 100_000);
  return Number.isFinite(cpus) && cpus > 0 ? Math.ceil(cpus) : undefined;
}

export const INFERENCE_THREADS_VARIABLE = 'TALKIES_INFERENCE_THREADS';
const MAX_THREADS = 1024;

/**
 * The value of `TALKIES_INFERENCE_THREADS`: undefined when unset or blank, else a whole
 * number from 1 to 1024; anything else throws, saying what to write.
 */
export function parseInferenceThreads(value: string | undefined): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  const threads = Number(text);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new Error(`${INFERENCE_THREADS_VARIABLE}='${value}' is not a whole number between 1 and ${MAX_THREADS}; unset it for one thread per physical core`);
  }
  return threads;
}

let cached: number | undefined;

/**
 * Default intra-op thread count: `TALKIES_INFERENCE_THREADS` when set; otherwise the
 * physical cores, but no more than the CPUs this process may run on
 * (`os.availableParallelism()`, which follows the affinity mask) nor its container's CPU
 * quota; at least 1.
 */
export function defaultInferenceThreads(environment: NodeJS.ProcessEnv = process.env): number {
  const named = parseInferenceThreads(environment[INFERENCE_THREADS_VARIABLE]);
  if (named !== undefined) return named;
  if (cached === undefined) {
    const usable = availableParallelism();
    cached = Math.max(1, Math.min(usable, physicalCoreCount() ?? usable, cgroupCpuQuota() ?? usable));
  }
  return cached;
}
