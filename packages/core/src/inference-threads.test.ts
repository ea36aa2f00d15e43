import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupCpuQuota, defaultInferenceThreads, parseInferenceThreads, physicalCoreCount } from './inference-threads.js';

const made: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'talkies-threads-'));
  made.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fake `/sys/devices/system/cpu`: one entry per logical CPU, `[package, core]` or `offline`. */
function cpuTree(cpus: Array<[number, number] | 'offline'>): string {
  const root = scratch();
  cpus.forEach((cpu, index) => {
    const dir = join(root, `cpu${index}`);
    mkdirSync(dir);
    if (cpu === 'offline') return;
    mkdirSync(join(dir, 'topology'));
    writeFileSync(join(dir, 'topology', 'physical_package_id'), `${cpu[0]}\n`);
    writeFileSync(join(dir, 'topology', 'core_id'), `${cpu[1]}\n`);
  });
  // Entries that are not CPUs are skipped.
  mkdirSync(join(root, 'cpufreq'));
  writeFileSync(join(root, 'online'), `0-${cpus.length - 1}\n`);
  return root;
}

describe('physicalCoreCount', () => {
  it('counts distinct package and core ids, so SMT siblings count once', () => {
    expect(physicalCoreCount(cpuTree([[0, 0], [0, 1], [0, 0], [0, 1]]))).toBe(2);
  });

  it('tells the same core id on two packages apart', () => {
    expect(physicalCoreCount(cpuTree([[0, 0], [1, 0], [0, 1], [1, 1]]))).toBe(4);
  });

  it('leaves out CPUs without a topology (offline)', () => {
    expect(physicalCoreCount(cpuTree([[0, 0], 'offline', [0, 2]]))).toBe(2);
  });

  it('is undefined where nothing can be read', () => {
    expect(physicalCoreCount(join(scratch(), 'missing'))).toBeUndefined();
    expect(physicalCoreCount(cpuTree(['offline']))).toBeUndefined();
  });
});

describe('cgroupCpuQuota', () => {
  const cpuMax = (text: string) => {
    const path = join(scratch(), 'cpu.max');
    writeFileSync(path, text);
    return path;
  };

  it('rounds a quota up to whole CPUs', () => {
    expect(cgroupCpuQuota(cpuMax('200000 100000\n'))).toBe(2);
    expect(cgroupCpuQuota(cpuMax('150000 100000\n'))).toBe(2);
    expect(cgroupCpuQuota(cpuMax('50000 100000\n'))).toBe(1);
  });

  it('is undefined without a quota or a file', () => {
    expect(cgroupCpuQuota(cpuMax('max 100000\n'))).toBeUndefined();
    expect(cgroupCpuQuota(cpuMax('garbage'))).toBeUndefined();
    expect(cgroupCpuQuota(join(scratch(), 'none'))).toBeUndefined();
  });
});

describe('defaultInferenceThreads', () => {
  it('is at least one and at most the CPUs this process may use, and stable', () => {
    const threads = defaultInferenceThreads({});
    expect(threads).toBeGreaterThanOrEqual(1);
    expect(threads).toBeLessThanOrEqual(availableParallelism());
    expect(threads).toBeLessThanOrEqual(physicalCoreCount() ?? Infinity);
    expect(defaultInferenceThreads({})).toBe(threads);
  });

  it('is TALKIES_INFERENCE_THREADS when that is set, whatever the machine', () => {
    expect(defaultInferenceThreads({ TALKIES_INFERENCE_THREADS: '3' })).toBe(3);
    expect(defaultInferenceThreads({ TALKIES_INFERENCE_THREADS: ' 1 ' })).toBe(1);
    expect(defaultInferenceThreads({ TALKIES_INFERENCE_THREADS: '' })).toBe(defaultInferenceThreads({}));
  });

  it('refuses a TALKIES_INFERENCE_THREADS that is not a whole number from 1 to 1024, saying what to do', () => {
    for (const value of ['0', '-2', '1.5', 'two', '1025', 'Infinity']) {
      expect(() => parseInferenceThreads(value)).toThrow(`TALKIES_INFERENCE_THREADS='${value}' is not a whole number between 1 and 1024; unset it for one thread per physical core`);
      expect(() => defaultInferenceThreads({ TALKIES_INFERENCE_THREADS: value })).toThrow(/TALKIES_INFERENCE_THREADS/);
    }
    expect(parseInferenceThreads(undefined)).toBeUndefined();
    expect(parseInferenceThreads('  ')).toBeUndefined();
    expect(parseInferenceThreads('1024')).toBe(1024);
  });
});
