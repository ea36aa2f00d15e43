import { describe, expect, it, vi } from 'vitest';
import type { AsrBackend, TtsBackend } from './backend.js';
import type { EngineLogger } from './define-engine.js';
import { EvictionPool, type EvictionPoolOptions, type Lease } from './eviction-pool.js';
import { seededRandom } from './seeded-random.js';
import { SpeechError } from './speech-error.js';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise reaction and pool wake-up run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A backend that records load/dispose in a shared log and can hold or fail them. */
class FakeBackend implements AsrBackend {
  readonly specificationVersion = 'v1' as const;
  readonly modality = 'asr' as const;
  readonly capabilities = {
    wordTimestamps: false,
    segmentTimestamps: false,
    streaming: false,
    translation: false,
    languages: 'any' as const,
    longForm: true,
  };
  loads = 0;
  disposes = 0;
  /** When set, load() waits for it. */
  loadGate?: Deferred;
  /** When set, dispose() waits for it. */
  disposeGate?: Deferred;
  /** Errors thrown by the next load() calls, in order. */
  readonly loadFailures: unknown[] = [];
  disposeFailure?: unknown;

  constructor(
    readonly slug: string,
    readonly log: string[],
  ) {}

  async load(): Promise<void> {
    this.loads += 1;
    this.log.push(`load ${this.slug}`);
    if (this.loadGate) await this.loadGate.promise;
    if (this.loadFailures.length > 0) {
      this.log.push(`load ${this.slug} failed`);
      throw this.loadFailures.shift();
    }
    this.log.push(`loaded ${this.slug}`);
  }

  async dispose(): Promise<void> {
    this.disposes += 1;
    this.log.push(`dispose ${this.slug}`);
    if (this.disposeGate) await this.disposeGate.promise;
    if (this.disposeFailure) throw this.disposeFailure;
  }

  async transcribe() {
    return { text: this.slug, segments: [], words: [] };
  }
}

function fakeTts(slug: string, log: string[]): TtsBackend {
  return {
    specificationVersion: 'v1',
    modality: 'tts',
    capabilities: { streaming: false, languages: 'any', instructions: false },
    defaultVoice: 'alloy',
    voices: async () => [{ id: 'alloy' }],
    synthesize: async () => ({ samples: new Float32Array(0), sampleRate: 24000 }),
    load: async () => void log.push(`load ${slug}`),
    dispose: async () => void log.push(`dispose ${slug}`),
  };
}

interface Setup {
  pool: EvictionPool;
  log: string[];
  backends: Record<string, FakeBackend>;
  clock: { now: number };
}

/** A pool over fake models; `models` maps slug → maxConcurrency. */
function setup(models: Record<string, number>, options: Omit<EvictionPoolOptions, 'now'> = {}): Setup {
  const log: string[] = [];
  const clock = { now: 0 };
  const backends: Record<string, FakeBackend> = {};
  for (const slug of Object.keys(models)) backends[slug] = new FakeBackend(slug, log);
  const pool = new EvictionPool(
    Object.entries(models).map(([slug, maxConcurrency]) => ({ slug, backend: backends[slug]!, maxConcurrency })),
    { ...options, now: () => clock.now },
  );
  return { pool, log, backends, clock };
}

/** Wraps a promise so a test can ask whether it has settled yet. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

async function speechRejection(promise: Promise<unknown>): Promise<SpeechError> {
  const error = await rejection(promise);
  expect(SpeechError.is(error)).toBe(true);
  return error as SpeechError;
}

function activeOf(pool: EvictionPool, slug: string): number | undefined {
  return pool.status().find((row) => row.id === slug)?.active_requests;
}

describe('EvictionPool', () => {
  describe('loading and eviction', () => {
    it('loads a model on first acquire and hands out its backend', async () => {
      const { pool, log, backends } = setup({ a: 1 });
      expect(pool.isLoaded('a')).toBe(false);
      const lease = await pool.acquire('a');
      expect(lease.slug).toBe('a');
      expect(lease.backend).toBe(backends.a);
      expect(pool.isLoaded('a')).toBe(true);
      lease.release();
      (await pool.acquire('a')).release();
      expect(log).toEqual(['load a', 'loaded a']);
    });

    it('gives the backend object without loading it', () => {
      const { pool, backends } = setup({ a: 1 });
      expect(pool.backend('a')).toBe(backends.a);
      expect(backends.a!.loads).toBe(0);
    });

    it('keeps one model resident by default: acquiring another evicts the first', async () => {
      const { pool, log } = setup({ a: 1, b: 1 });
      expect(pool.maxLoaded).toBe(1);
      (await pool.acquire('a')).release();
      (await pool.acquire('b')).release();
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load b', 'loaded b']);
      expect(pool.isLoaded('a')).toBe(false);
      expect(pool.isLoaded('b')).toBe(true);
    });

    it('shares the room between ASR and TTS models', async () => {
      const log: string[] = [];
      const pool = new EvictionPool([
        { slug: 'asr', backend: new FakeBackend('asr', log), maxConcurrency: 1 },
        { slug: 'tts', backend: fakeTts('tts', log), maxConcurrency: 1 },
      ]);
      (await pool.acquire('asr')).release();
      (await pool.acquire('tts')).release();
      expect(log).toEqual(['load asr', 'loaded asr', 'dispose asr', 'load tts']);
    });

    it('evicts the least recently used model when maxLoaded is 2', async () => {
      const { pool, log, clock } = setup({ a: 1, b: 1, c: 1 }, { maxLoaded: 2 });
      clock.now = 1000;
      (await pool.acquire('a')).release();
      clock.now = 2000;
      (await pool.acquire('b')).release();
      clock.now = 3000;
      (await pool.acquire('a')).release(); // a is now more recent than b
      clock.now = 4000;
      (await pool.acquire('c')).release();
      expect(log).toEqual(['load a', 'loaded a', 'load b', 'loaded b', 'dispose b', 'load c', 'loaded c']);
      expect(pool.status().map((row) => row.id).sort()).toEqual(['a', 'c']);
    });

    it('counts a loaded-but-never-used model from its load time for LRU', async () => {
      const { pool, log, clock } = setup({ a: 1, b: 1, c: 1 }, { maxLoaded: 2 });
      clock.now = 1000;
      (await pool.acquire('a')).release(); // used at 1000
      clock.now = 2000;
      await pool.preload('b'); // loaded at 2000, never used
      clock.now = 3000;
      (await pool.acquire('c')).release();
      expect(log.filter((line) => line.startsWith('dispose'))).toEqual(['dispose a']);
    });

    it('clamps maxLoaded to at least 1', async () => {
      const { pool } = setup({ a: 1 }, { maxLoaded: 0 });
      expect(pool.maxLoaded).toBe(1);
      (await pool.acquire('a')).release();
      expect(pool.isLoaded('a')).toBe(true);
    });

    it('never disposes a busy model: the other request waits and runs right after release', async () => {
      const { pool, log, backends } = setup({ a: 1, b: 1 });
      const leaseA = await pool.acquire('a');
      const b = track(pool.acquire('b'));
      await settle();
      expect(b.settled).toBe(false);
      expect(backends.a!.disposes).toBe(0);
      expect(pool.isLoaded('a')).toBe(true);
      leaseA.release();
      await settle();
      expect(b.settled).toBe(true);
      expect(b.error).toBeUndefined();
      expect(b.value?.slug).toBe('b');
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load b', 'loaded b']);
    });

    it('waits for a slow dispose before loading the next model', async () => {
      const { pool, log, backends } = setup({ a: 1, b: 1 });
      (await pool.acquire('a')).release();
      backends.a!.disposeGate = deferred();
      const b = track(pool.acquire('b'));
      await settle();
      expect(log).toEqual(['load a', 'loaded a', 'dispose a']);
      expect(b.settled).toBe(false);
      backends.a!.disposeGate.resolve();
      await settle();
      expect(b.value?.slug).toBe('b');
      expect(log.slice(3)).toEqual(['load b', 'loaded b']);
    });
  });

  describe('max_concurrency', () => {
    it('queues a second request at max_concurrency 1 and admits it after release', async () => {
      const { pool } = setup({ a: 1 });
      const first = await pool.acquire('a');
      const second = track(pool.acquire('a'));
      await settle();
      expect(second.settled).toBe(false);
      expect(activeOf(pool, 'a')).toBe(1);
      first.release();
      await settle();
      expect(second.error).toBeUndefined();
      expect(second.value?.slug).toBe('a');
      expect(activeOf(pool, 'a')).toBe(1);
      second.value!.release();
      expect(activeOf(pool, 'a')).toBe(0);
    });

    it('admits two at once at max_concurrency 2, and queues the third', async () => {
      const { pool } = setup({ a: 2 });
      const [one, two] = await Promise.all([pool.acquire('a'), pool.acquire('a')]);
      expect(activeOf(pool, 'a')).toBe(2);
      const three = track(pool.acquire('a'));
      await settle();
      expect(three.settled).toBe(false);
      one.release();
      await settle();
      expect(three.value?.slug).toBe('a');
      two.release();
      three.value!.release();
      expect(pool.activeRequests).toBe(0);
    });

    it('admits queued requests in arrival order, waking only the one a release makes room for', async () => {
      const { pool } = setup({ a: 1 });
      const first = await pool.acquire('a');
      // Each queued request registers its abort listener once while it waits: a release
      // must not wake (and re-register) every request in line.
      const signals = Array.from({ length: 4 }, () => new AbortController().signal);
      const listens = signals.map((signal) => vi.spyOn(signal, 'addEventListener'));
      const queued = signals.map((signal) => track(pool.acquire('a', signal)));
      await settle();
      let holder = first;
      for (let served = 0; served < queued.length; served += 1) {
        holder.release();
        await settle();
        expect(queued.map((request) => request.settled)).toEqual(queued.map((_, index) => index <= served));
        expect(activeOf(pool, 'a')).toBe(1);
        holder = queued[served]!.value!;
      }
      holder.release();
      expect(listens.map((listen) => listen.mock.calls.length)).toEqual([1, 1, 1, 1]);
      expect(pool.activeRequests).toBe(0);
    });

    it('does not over-admit when several requests wait for the same load', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      const requests = [track(pool.acquire('a')), track(pool.acquire('a')), track(pool.acquire('a'))];
      await settle();
      backends.a!.loadGate.resolve();
      await settle();
      expect(requests.filter((request) => request.settled)).toHaveLength(1);
      expect(activeOf(pool, 'a')).toBe(1);
      expect(backends.a!.loads).toBe(1);
      for (let served = 1; served <= 3; served += 1) {
        const current = requests.filter((request) => request.settled);
        expect(current).toHaveLength(served);
        current[served - 1]!.value!.release();
        await settle();
      }
      expect(pool.activeRequests).toBe(0);
    });

    it('treats max_concurrency below 1 as 1', async () => {
      const { pool } = setup({ a: 0 });
      const first = await pool.acquire('a');
      const second = track(pool.acquire('a'));
      await settle();
      expect(second.settled).toBe(false);
      first.release();
      await settle();
      expect(second.value?.slug).toBe('a');
    });

    it('treats a non-numeric max_concurrency as 1 instead of locking the model forever', async () => {
      const log: string[] = [];
      const pool = new EvictionPool([
        { slug: 'a', backend: new FakeBackend('a', log), maxConcurrency: undefined as unknown as number },
      ]);
      const lease = await pool.acquire('a');
      expect(pool.status()[0]!.max_concurrency).toBe(1);
      lease.release();
    });
  });

  describe('leases', () => {
    it('ignores a second release of the same lease', async () => {
      const { pool } = setup({ a: 2 });
      const one = await pool.acquire('a');
      const two = await pool.acquire('a');
      one.release();
      one.release();
      expect(activeOf(pool, 'a')).toBe(1);
      expect(pool.activeRequests).toBe(1);
      two.release();
      expect(pool.activeRequests).toBe(0);
    });

    it('use() releases after success and after failure', async () => {
      const { pool } = setup({ a: 1 });
      await expect(pool.use('a', async (backend) => (backend as FakeBackend).slug)).resolves.toBe('a');
      expect(pool.activeRequests).toBe(0);
      await expect(
        pool.use('a', async () => {
          throw new Error('inference blew up');
        }),
      ).rejects.toThrow('inference blew up');
      expect(pool.activeRequests).toBe(0);
    });

    it('counts active requests across models', async () => {
      const { pool } = setup({ a: 2, b: 1 }, { maxLoaded: 2 });
      const leases = [await pool.acquire('a'), await pool.acquire('a'), await pool.acquire('b')];
      expect(pool.activeRequests).toBe(3);
      for (const lease of leases) lease.release();
      expect(pool.activeRequests).toBe(0);
    });
  });

  describe('unknown models', () => {
    it('rejects acquire with MODEL_NOT_FOUND listing the configured slugs', async () => {
      const { pool } = setup({ a: 1, b: 1 });
      const error = await speechRejection(pool.acquire('zzz'));
      expect(error.code).toBe('MODEL_NOT_FOUND');
      expect(error.status).toBe(404);
      expect(error.model).toBe('zzz');
      expect(error.message).toBe("unknown model 'zzz'; configured: a, b");
    });

    it('rejects the other entry points too', async () => {
      const { pool } = setup({ a: 1 });
      expect(() => pool.backend('zzz')).toThrow(/unknown model 'zzz'/);
      expect(() => pool.isLoaded('zzz')).toThrow(/unknown model 'zzz'/);
      expect((await speechRejection(pool.unload('zzz'))).code).toBe('MODEL_NOT_FOUND');
      expect((await speechRejection(pool.preload('zzz'))).code).toBe('MODEL_NOT_FOUND');
    });
  });

  describe('load failures', () => {
    it('wraps a plain load error in MODEL_LOAD_FAILED and can load again later', async () => {
      const { pool, backends } = setup({ a: 1 });
      const cause = new Error('weights missing');
      backends.a!.loadFailures.push(cause);
      const error = await speechRejection(pool.acquire('a'));
      expect(error.code).toBe('MODEL_LOAD_FAILED');
      expect(error.status).toBe(503);
      expect(error.model).toBe('a');
      expect(error.message).toContain("model 'a' failed to load: weights missing");
      expect(error.cause).toBe(cause);
      expect(pool.isLoaded('a')).toBe(false);
      expect(pool.status()).toEqual([]);
      const lease = await pool.acquire('a');
      expect(pool.isLoaded('a')).toBe(true);
      expect(backends.a!.loads).toBe(2);
      lease.release();
    });

    it('passes a SpeechError thrown by load through unchanged', async () => {
      const { pool, backends } = setup({ a: 1 });
      const thrown = new SpeechError('MODEL_UNAVAILABLE', 'files not downloaded; run talkies pull a', { model: 'a' });
      backends.a!.loadFailures.push(thrown);
      expect(await rejection(pool.acquire('a'))).toBe(thrown);
    });

    it('wraps a non-Error throw', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadFailures.push('just a string');
      const error = await speechRejection(pool.acquire('a'));
      expect(error.code).toBe('MODEL_LOAD_FAILED');
      expect(error.message).toContain('just a string');
    });

    it('frees the room after a failed load, so other models still load', async () => {
      const { pool, backends, log } = setup({ a: 1, b: 1 });
      (await pool.acquire('a')).release();
      backends.b!.loadFailures.push(new Error('bad'));
      await speechRejection(pool.acquire('b'));
      (await pool.acquire('a')).release();
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load b', 'load b failed', 'load a', 'loaded a']);
    });

    it('does not wedge requests that waited on a failed load', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      backends.a!.loadFailures.push(new Error('flaky'));
      const first = track(pool.acquire('a'));
      const second = track(pool.acquire('a'));
      await settle();
      backends.a!.loadGate.resolve();
      backends.a!.loadGate = undefined;
      await settle();
      expect(first.settled).toBe(true);
      expect((first.error as SpeechError).code).toBe('MODEL_LOAD_FAILED');
      // The waiter either got the same error or a lease from a successful retry.
      expect(second.settled).toBe(true);
      if (second.error === undefined) second.value!.release();
      else expect((second.error as SpeechError).code).toBe('MODEL_LOAD_FAILED');
      (await pool.acquire('a')).release();
      expect(pool.activeRequests).toBe(0);
    });
  });

  describe('aborting', () => {
    it('rejects at once for an already aborted signal, without loading', async () => {
      const { pool, backends } = setup({ a: 1 });
      const reason = new Error('client went away');
      expect(await rejection(pool.acquire('a', AbortSignal.abort(reason)))).toBe(reason);
      expect(backends.a!.loads).toBe(0);
    });

    it('rejects a request queued for a busy model and leaks no slot', async () => {
      const { pool } = setup({ a: 1 });
      const lease = await pool.acquire('a');
      const controller = new AbortController();
      const queued = track(pool.acquire('a', controller.signal));
      await settle();
      controller.abort(new Error('gone'));
      await settle();
      expect((queued.error as Error).message).toBe('gone');
      expect(activeOf(pool, 'a')).toBe(1);
      lease.release();
      expect(activeOf(pool, 'a')).toBe(0);
      const next = track(pool.acquire('a'));
      await settle();
      expect(next.value?.slug).toBe('a');
      next.value!.release();
    });

    it('passes the slot on when the request woken for it aborts before taking it', async () => {
      const { pool } = setup({ a: 1 });
      const lease = await pool.acquire('a');
      const controller = new AbortController();
      const woken = track(pool.acquire('a', controller.signal));
      const next = track(pool.acquire('a'));
      await settle();
      lease.release();
      // The pool wakes the first in line a microtask after the release; the abort lands
      // after that wake-up and before the woken request runs.
      queueMicrotask(() => controller.abort(new Error('gone')));
      await settle();
      expect((woken.error as Error | undefined)?.message).toBe('gone');
      expect(next.value?.slug).toBe('a');
      expect(activeOf(pool, 'a')).toBe(1);
      next.value!.release();
      expect(pool.activeRequests).toBe(0);
    });

    it('stops draining the other model when a request waiting for room aborts', async () => {
      const { pool, backends } = setup({ a: 1, b: 1 });
      const leaseA = await pool.acquire('a');
      const controller = new AbortController();
      const forB = track(pool.acquire('b', controller.signal));
      const moreA = track(pool.acquire('a'));
      await settle();
      expect(forB.settled).toBe(false);
      controller.abort();
      await settle();
      expect(forB.settled).toBe(true);
      expect(forB.error).toBeInstanceOf(Error);
      leaseA.release();
      await settle();
      // Nobody wants b any more: a stays loaded and serves the queued request.
      expect(moreA.value?.slug).toBe('a');
      expect(backends.a!.disposes).toBe(0);
      expect(backends.b!.loads).toBe(0);
      moreA.value!.release();
    });

    it('rejects a request aborted during a slow load right away; the model still loads, unused', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      const controller = new AbortController();
      const request = track(pool.acquire('a', controller.signal));
      await settle();
      controller.abort(new Error('client closed'));
      await settle();
      expect((request.error as Error)?.message).toBe('client closed');
      backends.a!.loadGate.resolve();
      await settle();
      expect(pool.status()).toEqual([
        { id: 'a', loaded: true, idle_seconds: null, active_requests: 0, max_concurrency: 1 },
      ]);
      (await pool.acquire('a')).release();
      expect(backends.a!.loads).toBe(1);
    });

    it('handles a load that fails after its request was aborted', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      backends.a!.loadFailures.push(new Error('late failure'));
      const controller = new AbortController();
      const request = track(pool.acquire('a', controller.signal));
      await settle();
      controller.abort();
      backends.a!.loadGate.resolve();
      backends.a!.loadGate = undefined;
      await settle();
      expect(request.error).toBeDefined();
      expect(pool.isLoaded('a')).toBe(false);
      expect(pool.activeRequests).toBe(0);
      (await pool.acquire('a')).release();
    });

    it('lets the next request in line go ahead when the first one aborts', async () => {
      const { pool, log } = setup({ a: 1, b: 1, c: 1 });
      const leaseA = await pool.acquire('a');
      const controller = new AbortController();
      const forB = track(pool.acquire('b', controller.signal));
      const forC = track(pool.acquire('c'));
      await settle();
      controller.abort();
      await settle();
      expect(forB.error).toBeDefined();
      expect(forC.settled).toBe(false);
      leaseA.release();
      await settle();
      expect(forC.value?.slug).toBe('c');
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load c', 'loaded c']);
    });

    it('releases the slot of a request aborted while its model was loading', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      const controller = new AbortController();
      const request = track(pool.acquire('a', controller.signal));
      await settle();
      controller.abort();
      backends.a!.loadGate.resolve();
      await settle();
      expect(request.error).toBeDefined();
      expect(pool.activeRequests).toBe(0);
      const lease = track(pool.acquire('a'));
      await settle();
      expect(lease.value?.slug).toBe('a');
    });
  });

  describe('fairness', () => {
    it('serves the other model once the in-flight request finishes, ahead of more requests for the busy one', async () => {
      const { pool, log } = setup({ a: 1, b: 1 });
      const a1 = await pool.acquire('a');
      const a2 = track(pool.acquire('a'));
      const b = track(pool.acquire('b'));
      const a3 = track(pool.acquire('a'));
      await settle();
      a1.release();
      await settle();
      expect(b.value?.slug).toBe('b');
      expect(a2.settled).toBe(false);
      expect(a3.settled).toBe(false);
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load b', 'loaded b']);
      b.value!.release();
      await settle();
      expect(a2.value?.slug).toBe('a');
      a2.value!.release();
      await settle();
      expect(a3.value?.slug).toBe('a');
      a3.value!.release();
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load b', 'loaded b', 'dispose b', 'load a', 'loaded a']);
    });

    it('stops admitting new requests to a busy model while another model waits', async () => {
      const { pool } = setup({ a: 4, b: 1 });
      const a1 = await pool.acquire('a');
      const b = track(pool.acquire('b'));
      await settle();
      const a2 = track(pool.acquire('a'));
      await settle();
      expect(a2.settled).toBe(false);
      a1.release();
      await settle();
      expect(b.value?.slug).toBe('b');
      expect(a2.settled).toBe(false);
      b.value!.release();
      await settle();
      expect(a2.value?.slug).toBe('a');
    });

    it('serves three models in turn without starving any', async () => {
      const { pool } = setup({ a: 2, b: 2, c: 2 });
      const a = await pool.acquire('a');
      const b = track(pool.acquire('b'));
      const c = track(pool.acquire('c'));
      await settle();
      a.release();
      await settle();
      const first = b.settled ? b : c;
      const other = first === b ? c : b;
      expect(first.value).toBeDefined();
      expect(other.settled).toBe(false);
      // More requests for the model now loaded must not jump ahead of the waiting one.
      const again = track(pool.acquire(first.value!.slug));
      await settle();
      expect(again.settled).toBe(false);
      first.value!.release();
      await settle();
      expect(other.value).toBeDefined();
      expect(again.settled).toBe(false);
      other.value!.release();
      await settle();
      expect(again.value?.slug).toBe(first.value!.slug);
      again.value!.release();
      expect(pool.activeRequests).toBe(0);
    });

    it('lets concurrent loads of different models share the room when maxLoaded allows', async () => {
      const { pool, backends } = setup({ a: 1, b: 1 }, { maxLoaded: 2 });
      backends.a!.loadGate = deferred();
      backends.b!.loadGate = deferred();
      const a = track(pool.acquire('a'));
      const b = track(pool.acquire('b'));
      await settle();
      expect(backends.a!.loads).toBe(1);
      expect(backends.b!.loads).toBe(1);
      backends.b!.loadGate.resolve();
      backends.a!.loadGate.resolve();
      await settle();
      expect(a.value?.slug).toBe('a');
      expect(b.value?.slug).toBe('b');
    });
  });

  describe('unload', () => {
    it('resolves false for a model that is not loaded', async () => {
      const { pool, backends } = setup({ a: 1 });
      await expect(pool.unload('a')).resolves.toBe(false);
      expect(backends.a!.disposes).toBe(0);
    });

    it('disposes an idle model and resolves true', async () => {
      const { pool, backends } = setup({ a: 1 });
      (await pool.acquire('a')).release();
      await expect(pool.unload('a')).resolves.toBe(true);
      expect(backends.a!.disposes).toBe(1);
      expect(pool.isLoaded('a')).toBe(false);
      expect(pool.status()).toEqual([]);
    });

    it('waits for a busy model to finish, holding new requests back, then disposes', async () => {
      const { pool, log, backends } = setup({ a: 2 });
      const lease = await pool.acquire('a');
      const unloaded = track(pool.unload('a'));
      await settle();
      expect(unloaded.settled).toBe(false);
      expect(backends.a!.disposes).toBe(0);
      const later = track(pool.acquire('a'));
      await settle();
      expect(later.settled).toBe(false);
      lease.release();
      await settle();
      expect(unloaded.value).toBe(true);
      expect(backends.a!.disposes).toBe(1);
      // The held-back request then loads the model again.
      expect(later.value?.slug).toBe('a');
      expect(log).toEqual(['load a', 'loaded a', 'dispose a', 'load a', 'loaded a']);
    });

    it('waits for a model that is still loading', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      const request = track(pool.acquire('a'));
      await settle();
      const unloaded = track(pool.unload('a'));
      backends.a!.loadGate.resolve();
      await settle();
      expect(request.value?.slug).toBe('a');
      expect(unloaded.settled).toBe(false);
      request.value!.release();
      await settle();
      expect(unloaded.value).toBe(true);
      expect(pool.isLoaded('a')).toBe(false);
    });

    it('resolves false when the model it waited for fails to load', async () => {
      const { pool, backends } = setup({ a: 1 });
      backends.a!.loadGate = deferred();
      backends.a!.loadFailures.push(new Error('no weights'));
      const request = track(pool.acquire('a'));
      await settle();
      const unloaded = track(pool.unload('a'));
      backends.a!.loadGate.resolve();
      await settle();
      expect((request.error as SpeechError).code).toBe('MODEL_LOAD_FAILED');
      expect(unloaded.value).toBe(false);
      expect(backends.a!.disposes).toBe(0);
    });

    it('resolves true for a model someone else is already unloading', async () => {
      const { pool, backends } = setup({ a: 1, b: 1 });
      (await pool.acquire('a')).release();
      backends.a!.disposeGate = deferred();
      const forB = track(pool.acquire('b')); // starts evicting a
      await settle();
      const unloaded = track(pool.unload('a'));
      backends.a!.disposeGate.resolve();
      await settle();
      expect(unloaded.value).toBe(true);
      expect(backends.a!.disposes).toBe(1);
      expect(forB.value?.slug).toBe('b');
    });

    it('logs a failing dispose and treats the model as unloaded', async () => {
      const logger: EngineLogger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
      const { pool, backends } = setup({ a: 1 }, { logger });
      (await pool.acquire('a')).release();
      backends.a!.disposeFailure = new Error('driver crash');
      await expect(pool.unload('a')).resolves.toBe(true);
      expect(pool.isLoaded('a')).toBe(false);
      expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ model: 'a' }), expect.stringContaining('dispose failed'));
      (await pool.acquire('a')).release();
      expect(pool.isLoaded('a')).toBe(true);
    });

    it('unloadAll unloads every resident model and names them', async () => {
      const { pool, backends } = setup({ a: 1, b: 1, c: 1 }, { maxLoaded: 3 });
      (await pool.acquire('a')).release();
      const busy = await pool.acquire('b');
      const all = track(pool.unloadAll());
      await settle();
      expect(all.settled).toBe(false);
      expect(backends.a!.disposes).toBe(1);
      busy.release();
      await settle();
      expect(all.value?.sort()).toEqual(['a', 'b']);
      expect(backends.c!.disposes).toBe(0);
      expect(pool.status()).toEqual([]);
      await expect(pool.unloadAll()).resolves.toEqual([]);
    });
  });

  describe('status', () => {
    it('lists loaded models with idle seconds, active requests and concurrency', async () => {
      const { pool, clock } = setup({ a: 3, b: 1 }, { maxLoaded: 2 });
      expect(pool.status()).toEqual([]);
      clock.now = 1000;
      const lease = await pool.acquire('a');
      expect(pool.status()).toEqual([
        { id: 'a', loaded: true, idle_seconds: null, active_requests: 1, max_concurrency: 3 },
      ]);
      clock.now = 4000;
      lease.release();
      clock.now = 6500;
      expect(pool.status()).toEqual([
        { id: 'a', loaded: true, idle_seconds: 2.5, active_requests: 0, max_concurrency: 3 },
      ]);
    });

    it('shows null idle seconds for a preloaded model that has not served a request', async () => {
      const { pool, clock } = setup({ a: 1 });
      clock.now = 500;
      await pool.preload('a');
      clock.now = 10_000;
      expect(pool.status()).toEqual([
        { id: 'a', loaded: true, idle_seconds: null, active_requests: 0, max_concurrency: 1 },
      ]);
    });

    it('never reports negative idle time', async () => {
      const { pool, clock } = setup({ a: 1 });
      clock.now = 5000;
      (await pool.acquire('a')).release();
      clock.now = 4000;
      expect(pool.status()[0]!.idle_seconds).toBe(0);
    });
  });

  describe('close', () => {
    it('rejects new acquires with SHUTTING_DOWN', async () => {
      const { pool } = setup({ a: 1 });
      await pool.close();
      const error = await speechRejection(pool.acquire('a'));
      expect(error.code).toBe('SHUTTING_DOWN');
      expect(error.status).toBe(503);
    });

    it('rejects waiting requests, lets in-flight ones finish, then disposes everything', async () => {
      const { pool, backends } = setup({ a: 1, b: 1 }, { maxLoaded: 2 });
      const lease = await pool.acquire('a');
      (await pool.acquire('b')).release();
      const waiting = track(pool.acquire('a'));
      await settle();
      const closed = track(pool.close());
      await settle();
      expect((waiting.error as SpeechError).code).toBe('SHUTTING_DOWN');
      expect(backends.b!.disposes).toBe(1);
      expect(backends.a!.disposes).toBe(0);
      expect(closed.settled).toBe(false);
      lease.release();
      await settle();
      expect(closed.settled).toBe(true);
      expect(backends.a!.disposes).toBe(1);
      expect(pool.status()).toEqual([]);
    });
  });

  describe('preload', () => {
    it('loads without counting as use', async () => {
      const { pool, backends } = setup({ a: 1 });
      await pool.preload('a');
      expect(pool.isLoaded('a')).toBe(true);
      expect(backends.a!.loads).toBe(1);
      expect(pool.activeRequests).toBe(0);
      expect(pool.status()[0]!.idle_seconds).toBeNull();
    });

    it('leaves the idle time of a model that was already in use alone', async () => {
      const { pool, backends, clock } = setup({ a: 1 });
      clock.now = 1000;
      (await pool.acquire('a')).release();
      clock.now = 5000;
      await pool.preload('a');
      expect(backends.a!.loads).toBe(1);
      expect(pool.status()[0]!.idle_seconds).toBe(4);
    });

    it('respects maxLoaded: a second preload evicts the first', async () => {
      const { pool } = setup({ a: 1, b: 1 });
      await pool.preload('a');
      await pool.preload('b');
      expect(pool.isLoaded('a')).toBe(false);
      expect(pool.isLoaded('b')).toBe(true);
    });
  });
});

// Keep the Lease type import exercised for readers of this file.
export type { Lease };

describe('EvictionPool under random load', () => {

  it.each(Array.from({ length: Number(process.env.POOL_FUZZ_SEEDS ?? 12) }, (_, index) => index + 1))(
    'keeps its invariants and serves every request (seed %i)',
    async (seed) => {
      const next = seededRandom(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
      const slugs = ['a', 'b', 'c'];
      const maxLoaded = 1 + Math.floor(next() * 2);
      const concurrency: Record<string, number> = { a: 1, b: 2, c: 1 + Math.floor(next() * 3) };
      const resident = new Set<string>();
      const loaded = new Set<string>();
      const outstanding: Record<string, number> = { a: 0, b: 0, c: 0 };
      const violations: string[] = [];
      const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

      const backends = slugs.map((slug) => {
        const backend = new FakeBackend(slug, []);
        backend.load = async () => {
          if (resident.has(slug)) violations.push(`${slug} loaded twice`);
          resident.add(slug);
          if (resident.size > maxLoaded) violations.push(`${resident.size} models resident, max ${maxLoaded}`);
          for (let i = Math.floor(next() * 3); i > 0; i -= 1) await tick();
          if (next() < 0.1) {
            resident.delete(slug);
            throw new Error(`random load failure of ${slug}`);
          }
          loaded.add(slug);
        };
        backend.dispose = async () => {
          if (!loaded.has(slug)) violations.push(`${slug} disposed while not loaded`);
          if (outstanding[slug] !== 0) violations.push(`${slug} disposed with ${outstanding[slug]} requests running`);
          loaded.delete(slug);
          for (let i = Math.floor(next() * 3); i > 0; i -= 1) await tick();
          resident.delete(slug);
        };
        return backend;
      });
      const clock = { now: 0 };
      const pool = new EvictionPool(
        backends.map((backend) => ({ slug: backend.slug, backend, maxConcurrency: concurrency[backend.slug]! })),
        { maxLoaded, now: () => clock.now },
      );

      const held: Lease[] = [];
      const pending = new Set<Promise<unknown>>();
      const controllers: AbortController[] = [];
      const request = (slug: string) => {
        const controller = next() < 0.3 ? new AbortController() : undefined;
        if (controller) controllers.push(controller);
        const promise = pool.acquire(slug, controller?.signal).then(
          (lease) => {
            if (!loaded.has(slug)) violations.push(`lease on ${slug} while not loaded`);
            outstanding[slug]! += 1;
            if (outstanding[slug]! > concurrency[slug]!) violations.push(`${slug} over its concurrency`);
            held.push(lease);
          },
          () => undefined,
        );
        pending.add(promise);
        void promise.finally(() => pending.delete(promise));
      };
      const releaseOne = () => {
        const lease = held.splice(Math.floor(next() * held.length), 1)[0];
        if (!lease) return;
        outstanding[lease.slug]! -= 1;
        lease.release();
      };

      for (let step = 0; step < 80; step += 1) {
        clock.now += Math.floor(next() * 1000);
        const roll = next();
        if (roll < 0.45) request(pick(slugs));
        else if (roll < 0.8) releaseOne();
        else if (roll < 0.88) controllers.splice(Math.floor(next() * controllers.length), 1)[0]?.abort();
        else if (roll < 0.94) void pool.unload(pick(slugs));
        else void pool.sweep(1);
        for (let i = Math.floor(next() * 4); i > 0; i -= 1) await tick();
        expect(violations).toEqual([]);
        // A load that just finished holds a slot for its request before the lease arrives.
        expect(pool.activeRequests).toBeGreaterThanOrEqual(held.length);
        expect(pool.activeRequests).toBeLessThanOrEqual(held.length + pending.size);
      }

      // Drain: keep finishing requests; every waiting request must eventually be served.
      for (let round = 0; round < 200 && (pending.size > 0 || held.length > 0); round += 1) {
        while (held.length > 0) releaseOne();
        for (let i = 0; i < 6; i += 1) await tick();
      }
      expect(pending.size).toBe(0);
      expect(held).toEqual([]);
      expect(violations).toEqual([]);
      expect(pool.activeRequests).toBe(0);
      await pool.close();
      expect(resident.size).toBe(0);
      expect(violations).toEqual([]);
    },
  );
});
