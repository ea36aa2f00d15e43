import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AsrBackend } from './backend.js';
import type { EngineLogger } from './define-engine.js';
import { EvictionPool } from './eviction-pool.js';
import { IdleSweeper } from './idle-sweeper.js';

const TTL = 600;

function backend(slug: string, log: string[], disposeGate?: Promise<void>): AsrBackend {
  return {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: {
      wordTimestamps: false,
      segmentTimestamps: false,
      streaming: false,
      translation: false,
      languages: 'any',
      longForm: true,
    },
    load: async () => void log.push(`load ${slug}`),
    dispose: async () => {
      log.push(`dispose ${slug}`);
      await disposeGate;
    },
    transcribe: async () => ({ text: '', segments: [], words: [] }),
  };
}

function logger(): EngineLogger {
  return { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

function setup(slugs: string[], { maxLoaded = slugs.length, disposeGate }: { maxLoaded?: number; disposeGate?: Promise<void> } = {}) {
  const log: string[] = [];
  const clock = { now: 0 };
  const pool = new EvictionPool(
    slugs.map((slug) => ({ slug, backend: backend(slug, log, disposeGate), maxConcurrency: 1 })),
    { maxLoaded, now: () => clock.now },
  );
  return { pool, log, clock };
}

/** Seconds → the pool's milliseconds. */
const at = (seconds: number) => seconds * 1000;

describe('IdleSweeper', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('unloads a model idle for at least the TTL', async () => {
    const { pool, log, clock } = setup(['a']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 });
    clock.now = at(10);
    (await pool.acquire('a')).release();
    clock.now = at(10 + TTL);
    await expect(sweeper.tick()).resolves.toEqual(['a']);
    expect(pool.isLoaded('a')).toBe(false);
    expect(log).toEqual(['load a', 'dispose a']);
  });

  it('leaves a model that is younger than the TTL', async () => {
    const { pool, clock } = setup(['a']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 });
    clock.now = at(10);
    (await pool.acquire('a')).release();
    clock.now = at(10 + TTL) - 1;
    await expect(sweeper.tick()).resolves.toEqual([]);
    expect(pool.isLoaded('a')).toBe(true);
  });

  it('measures idle time from the end of the last request', async () => {
    const { pool, clock } = setup(['a']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 });
    const lease = await pool.acquire('a');
    clock.now = at(1000); // a long request
    lease.release();
    clock.now = at(1000 + TTL / 2);
    await expect(sweeper.tick()).resolves.toEqual([]);
    clock.now = at(1000 + TTL);
    await expect(sweeper.tick()).resolves.toEqual(['a']);
  });

  it('never unloads a busy model', async () => {
    const { pool, log, clock } = setup(['a']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 });
    (await pool.acquire('a')).release();
    const lease = await pool.acquire('a');
    clock.now = at(100 * TTL);
    await expect(sweeper.tick()).resolves.toEqual([]);
    expect(pool.isLoaded('a')).toBe(true);
    lease.release();
    await expect(sweeper.tick()).resolves.toEqual([]); // just released: idle for 0 s
    clock.now = at(101 * TTL);
    await expect(sweeper.tick()).resolves.toEqual(['a']);
    expect(log).toEqual(['load a', 'dispose a']);
  });

  it('sweeps a preloaded model that was never used, counting from its load time', async () => {
    const { pool, clock } = setup(['a']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 });
    clock.now = at(50);
    await pool.preload('a');
    clock.now = at(50 + TTL) - 1;
    await expect(sweeper.tick()).resolves.toEqual([]);
    clock.now = at(50 + TTL);
    await expect(sweeper.tick()).resolves.toEqual(['a']);
  });

  it('only unloads the expired models', async () => {
    const { pool, clock } = setup(['a', 'b', 'c']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 });
    clock.now = at(0);
    (await pool.acquire('a')).release();
    clock.now = at(300);
    (await pool.acquire('b')).release();
    clock.now = at(TTL + 1);
    await expect(sweeper.tick()).resolves.toEqual(['a']);
    expect(pool.status().map((row) => row.id)).toEqual(['b']);
    expect(pool.isLoaded('c')).toBe(false);
  });

  it('does nothing with TTL 0 (disabled)', async () => {
    const { pool, clock } = setup(['a']);
    const sweeper = new IdleSweeper(pool, { ttlSeconds: 0, intervalSeconds: 60 });
    expect(sweeper.enabled).toBe(false);
    (await pool.acquire('a')).release();
    clock.now = at(1e6);
    await expect(sweeper.tick()).resolves.toEqual([]);
    expect(pool.isLoaded('a')).toBe(true);
  });

  it('is disabled when the interval is 0, and enabled when both are positive', () => {
    const { pool } = setup(['a']);
    expect(new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 0 }).enabled).toBe(false);
    expect(new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60 }).enabled).toBe(true);
  });

  it('logs what it unloaded', async () => {
    const { pool, clock } = setup(['a']);
    const log = logger();
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60, logger: log });
    (await pool.acquire('a')).release();
    await sweeper.tick();
    expect(log.info).not.toHaveBeenCalled();
    clock.now = at(TTL);
    await sweeper.tick();
    expect(log.info).toHaveBeenCalledWith({ models: ['a'] }, 'idle models unloaded');
  });

  it('never runs two sweeps at once', async () => {
    let finishDispose!: () => void;
    const disposeGate = new Promise<void>((resolve) => {
      finishDispose = resolve;
    });
    const { pool, log, clock } = setup(['a'], { disposeGate });
    const logs = logger();
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60, logger: logs });
    (await pool.acquire('a')).release();
    clock.now = at(TTL);
    const first = sweeper.tick();
    const second = sweeper.tick();
    finishDispose();
    await expect(first).resolves.toEqual(['a']);
    await expect(second).resolves.toEqual(['a']);
    expect(log).toEqual(['load a', 'dispose a']);
    expect(logs.info).toHaveBeenCalledTimes(1);
    // A later tick starts a fresh sweep.
    await expect(sweeper.tick()).resolves.toEqual([]);
  });

  it('start() ticks every interval and stop() ends it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { pool, clock } = setup(['a', 'b']);
    const log = logger();
    const sweeper = new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 60, logger: log });
    (await pool.acquire('a')).release();
    clock.now = at(TTL);
    sweeper.start();
    sweeper.start(); // idempotent: still one timer
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(pool.isLoaded('a')).toBe(false);
    expect(log.info).toHaveBeenCalledTimes(1);
    sweeper.stop();
    expect(vi.getTimerCount()).toBe(0);
    (await pool.acquire('b')).release();
    clock.now = at(10 * TTL);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(pool.isLoaded('b')).toBe(true);
    sweeper.stop(); // stopping twice is harmless
  });

  it('start() does nothing when disabled', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { pool } = setup(['a']);
    new IdleSweeper(pool, { ttlSeconds: 0, intervalSeconds: 60 }).start();
    new IdleSweeper(pool, { ttlSeconds: TTL, intervalSeconds: 0 }).start();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('EvictionPool.sweep', () => {
  it('skips a busy model, even one another request is waiting to evict', async () => {
    const { pool, clock } = setup(['a', 'b'], { maxLoaded: 1 });
    const lease = await pool.acquire('a');
    const forB = pool.acquire('b'); // drains a
    await new Promise<void>((resolve) => setImmediate(resolve));
    clock.now = at(10 * TTL);
    await expect(pool.sweep(TTL)).resolves.toEqual([]);
    lease.release();
    (await forB).release();
    expect(pool.isLoaded('b')).toBe(true);
  });
});
