/**
 * `talkies serve` sets glibc's allocator so that a model thread's freed buffers stay in the
 * process (see malloc-tuning.ts): a worker thread that holds a few dozen megabytes of
 * buffers at once, frees them and allocates them again (as a Whisper worker does with
 * onnxruntime-node's output copies on every prompt step) faults every page in again each
 * time under glibc's defaults, and not once tuned. The settings are the process's: each
 * case runs in a fresh process, and `tuneMallocAtStart` executes that process again with
 * glibc's variables set.
 */
import { execFile, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MALLOC_ENVIRONMENT, onGlibc, tuneMalloc } from '../src/malloc-tuning.js';

const built = fileURLToPath(new URL('../dist/malloc-tuning.js', import.meta.url));

/**
 * A process that tunes the allocator as `talkies serve` does (TUNE=1), then runs a worker
 * that holds buffers of SIZES megabytes together and frees them (their buffers detached),
 * 20 times over; it reports the faults of each round, and what it saw of itself.
 */
const CHURN = `
const { Worker } = await import('node:worker_threads');
const tuning = process.env.TUNE === '1' ? (await import(${JSON.stringify(built)})).tuneMallocAtStart() : undefined;
const source = \`
const { parentPort } = require('node:worker_threads');
const faults = () => process.resourceUsage().minorPageFault;
const sizes = JSON.parse(process.env.SIZES);
const rounds = [];
for (let round = 0; round < 20; round++) {
  const before = faults();
  const held = sizes.map((megabytes) => new Float32Array((megabytes << 20) / 4).fill(1));
  for (const array of held) array.buffer.transfer(0);
  rounds.push(faults() - before);
}
parentPort.postMessage(rounds);
\`;
const rounds = await new Promise((resolve) => new Worker(source, { eval: true, execArgv: [] }).once('message', resolve));
const report = { tuning, pid: process.pid, malloc: Object.keys(process.env).filter((name) => name.startsWith('MALLOC_') || name === 'TALKIES_MALLOC_TUNED'), rounds };
if (process.send) process.send(report, () => process.disconnect());
else console.log(JSON.stringify(report));
`;

interface ChurnReport {
  tuning?: { applied: boolean; via?: string };
  pid: number;
  /** glibc's variables (and talkies' marker) still in the process's environment. */
  malloc: string[];
  rounds: number[];
  /** The pid the parent started. */
  started?: number;
}

let directory: string;
let script: string;
beforeAll(async () => {
  if (!existsSync(built)) throw new Error(`${built} is missing: build first with \`pnpm exec tsc -b\``);
  directory = await mkdtemp(join(tmpdir(), 'talkies-malloc-'));
  script = join(directory, 'churn.mjs');
  await writeFile(script, CHURN);
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

function environmentFor(tune: boolean, sizes: number[]): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = { ...process.env, TUNE: tune ? '1' : '0', SIZES: JSON.stringify(sizes) };
  for (const name of [...Object.keys(MALLOC_ENVIRONMENT), 'GLIBC_TUNABLES', 'TALKIES_MALLOC_TUNING', 'TALKIES_MALLOC_TUNED']) delete environment[name];
  return environment;
}

function churn(tune: boolean, sizes: number[], extra: NodeJS.ProcessEnv = {}): Promise<ChurnReport> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [script], { env: { ...environmentFor(tune, sizes), ...extra } }, (error, stdout) => {
      if (error) reject(error);
      else resolve({ ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as ChurnReport), started: child.pid });
    });
  });
}

/** The same, started by a parent that keeps an IPC channel to it (as a process manager's fork does). */
function churnForked(sizes: number[]): Promise<ChurnReport> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { env: environmentFor(true, sizes), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', (report) => resolve({ ...(report as ChurnReport), started: child.pid }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the forked process exited (${code}) without a report`)));
  });
}

/** Page faults per round once the first rounds have grown the heap. */
const steady = (rounds: number[]) => rounds.slice(5).reduce((sum, count) => sum + count, 0) / (rounds.length - 5);

describe('the allocator settings of `talkies serve`', () => {
  it('keeps a model thread\'s freed buffers in the process instead of faulting them in on every call (on glibc)', async () => {
    if (!onGlibc()) {
      // Nothing to set elsewhere (macOS, musl): the server starts with the allocator as it is.
      expect(tuneMalloc({})).toEqual({ applied: false, reason: 'not glibc' });
      return;
    }
    // Twelve buffers of 3 MB (36 MB), and three of 24 MB: more than one of glibc's 64 MiB heaps.
    for (const sizes of [Array<number>(12).fill(3), [24, 24, 24]]) {
      const [defaults, tuned] = await Promise.all([churn(false, sizes), churn(true, sizes)]);
      expect(tuned.tuning).toEqual({ applied: true, via: 'environment', settings: { arenaMax: 1, trimThreshold: 256 * 2 ** 20, mmapThreshold: 32 * 2 ** 20 } });
      // Executed again in place: the same process, and glibc's variables gone from its environment once in effect.
      expect(tuned.pid).toBe(tuned.started);
      expect(tuned.malloc).toEqual([]);
      // Under the defaults each round faults thousands of pages again (a third to all of them); tuned, none.
      expect(steady(defaults.rounds)).toBeGreaterThan(5000);
      expect(steady(tuned.rounds)).toBeLessThan(100);
    }
  }, 60_000);

  it('sets the allocator from inside a process that has an IPC channel to its parent, which executing again would close', async () => {
    if (!onGlibc()) return expect(tuneMalloc({})).toEqual({ applied: false, reason: 'not glibc' });
    const report = await churnForked([3, 3, 3]);
    expect(report.tuning).toEqual({ applied: true, via: 'mallopt', settings: { arenaMax: 1, trimThreshold: 256 * 2 ** 20, mmapThreshold: 32 * 2 ** 20 } });
    expect(report.pid).toBe(report.started);
  }, 60_000);

  it('executes a process again at most once, even when the variables did not arrive', async () => {
    if (!onGlibc()) return expect(tuneMalloc({})).toEqual({ applied: false, reason: 'not glibc' });
    // As a process that was executed again but lost glibc's variables on the way would start.
    const report = await churn(true, [3, 3, 3], { TALKIES_MALLOC_TUNED: '1' });
    // Executed again, it would have come back with the variables: 'environment'.
    expect(report.tuning).toEqual({ applied: true, via: 'mallopt', settings: { arenaMax: 1, trimThreshold: 256 * 2 ** 20, mmapThreshold: 32 * 2 ** 20 } });
    expect(report.malloc).toEqual([]);
  }, 60_000);

  it('leaves the allocator alone when the environment already sets it, or says not to', () => {
    expect(tuneMalloc({ TALKIES_MALLOC_TUNING: 'off' })).toEqual({ applied: false, reason: 'TALKIES_MALLOC_TUNING=off' });
    expect(tuneMalloc({ MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '0' })).toEqual({ applied: false, reason: 'the environment sets MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_' });
    expect(tuneMalloc({ GLIBC_TUNABLES: 'glibc.cpu.hwcaps=-AVX512F:glibc.malloc.arena_max=4' })).toEqual({ applied: false, reason: 'the environment sets GLIBC_TUNABLES' });
    // What the re-executed process starts with: glibc's variables for the same settings.
    expect(MALLOC_ENVIRONMENT).toEqual({ MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: String(256 * 2 ** 20), MALLOC_MMAP_THRESHOLD_: String(32 * 2 ** 20) });
  });
});
