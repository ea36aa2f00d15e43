/**
 * `talkies serve` sets glibc's allocator so that a model thread's freed buffers stay in the
 * process (see malloc-tuning.ts): a worker thread that holds a few dozen megabytes of
 * buffers at once, frees them and allocates them again (as a Whisper worker does with
 * onnxruntime-node's output copies on every prompt step) faults every page in again each
 * time under glibc's defaults, and not once tuned. Each case runs in a fresh process: the
 * settings are the process's.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { onGlibc, tuneMalloc } from '../src/malloc-tuning.js';

const built = fileURLToPath(new URL('../dist/malloc-tuning.js', import.meta.url));

/** Twelve buffers of 3 MB held together, then freed (their buffers detached), 30 times over. */
const CHURN = `
const { Worker } = await import('node:worker_threads');
const tuning = process.env.TUNE === '1' ? (await import(${JSON.stringify(built)})).tuneMalloc() : undefined;
const source = \`
const { parentPort } = require('node:worker_threads');
const faults = () => process.resourceUsage().minorPageFault;
const rounds = [];
for (let round = 0; round < 30; round++) {
  const before = faults();
  const held = [];
  for (let index = 0; index < 12; index++) held.push(new Float32Array((3 << 20) / 4).fill(1));
  for (const array of held) array.buffer.transfer(0);
  rounds.push(faults() - before);
}
parentPort.postMessage(rounds);
\`;
const rounds = await new Promise((resolve) => new Worker(source, { eval: true, execArgv: [] }).once('message', resolve));
console.log(JSON.stringify({ tuning, rounds }));
`;

async function churn(tune: boolean): Promise<{ tuning?: { applied: boolean }; rounds: number[] }> {
  if (!existsSync(built)) throw new Error(`${built} is missing: build first with \`pnpm exec tsc -b\``);
  const environment: NodeJS.ProcessEnv = { ...process.env, TUNE: tune ? '1' : '0' };
  for (const name of ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'GLIBC_TUNABLES', 'TALKIES_MALLOC_TUNING']) delete environment[name];
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHURN], { env: environment });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
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
    const [defaults, tuned] = await Promise.all([churn(false), churn(true)]);
    expect(tuned.tuning).toEqual({ applied: true, settings: { arenaMax: 1, trimThreshold: 256 * 2 ** 20, mmapThreshold: 32 * 2 ** 20 } });
    // 36 MB is 9 216 pages: under the defaults each round faults nearly all of them again.
    expect(steady(defaults.rounds)).toBeGreaterThan(5000);
    expect(steady(tuned.rounds)).toBeLessThan(100);
  }, 60_000);

  it('leaves the allocator alone when the environment already sets it, or says not to', () => {
    expect(tuneMalloc({ TALKIES_MALLOC_TUNING: 'off' })).toEqual({ applied: false, reason: 'TALKIES_MALLOC_TUNING=off' });
    expect(tuneMalloc({ MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '0' })).toEqual({ applied: false, reason: 'the environment sets MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_' });
    expect(tuneMalloc({ GLIBC_TUNABLES: 'glibc.cpu.hwcaps=-AVX512F:glibc.malloc.arena_max=4' })).toEqual({ applied: false, reason: 'the environment sets GLIBC_TUNABLES' });
  });
});
