import { describe, expect, it } from 'vitest';
import type { AsrBackend, AsrCapabilities, TranscribeRequest } from './backend.js';
import { joinSamples } from './collect-speech.js';
import { EvictionPool } from './eviction-pool.js';
import { batchingBackend, EXPECTED_WAIT_MS, RequestBatcher } from './request-batcher.js';
import { SpeechError } from './speech-error.js';
import type { TranscriptionResult } from './transcription-result.js';
import { DEFAULT_LONG_AUDIO_OPTIONS } from './long-audio-options.js';
import { VadChunker } from './vad-chunker.js';
import type { SpeechDetector } from './vad-speech-detector.js';

const RATE = 16000;

/**
 * A small batch-capable backend that really reads its audio: a piece's text counts its
 * loud samples and its mean level, its one segment spans the loud part. `transcribeBatch`
 * handles the whole batch in one pass (one await of `gate` for all of them, like one
 * decoder step serving every sequence), checks each request's signal on its own and
 * records the batch sizes and how many batches ran at once.
 */
function tallyBackend(maxBatchSize = 8) {
  const batches: number[] = [];
  let running = 0;
  let mostAtOnce = 0;
  let gate: Promise<void> = Promise.resolve();
  const measure = (request: TranscribeRequest): TranscriptionResult => {
    if (request.signal.aborted) throw new SpeechError('ABORTED', 'request aborted');
    let loud = 0;
    let sum = 0;
    let first = -1;
    let last = -1;
    for (let index = 0; index < request.audio.length; index++) {
      const value = request.audio[index]!;
      sum += value;
      if (value >= 0.5) {
        loud++;
        if (first < 0) first = index;
        last = index;
      }
    }
    const text = ` ${loud} loud, mean ${(sum / Math.max(1, request.audio.length)).toFixed(4)}`;
    const segments = first < 0 ? [] : [{ id: 0, seek: 0, start: first / request.sampleRate, end: (last + 1) / request.sampleRate, text }];
    return { text, language: request.language ?? 'en', segments, words: [] };
  };
  const capabilities: AsrCapabilities = {
    wordTimestamps: false,
    segmentTimestamps: true,
    streaming: false,
    translation: false,
    languages: 'any',
    longForm: false,
    maxBatchSize,
  };
  const backend: AsrBackend = {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities,
    load: async () => {},
    dispose: async () => {},
    transcribe: async (request) => measure(request),
    transcribeBatch(requests) {
      batches.push(requests.length);
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      const done = gate.then(() => {
        running--;
        return requests.map((request) => {
          try {
            return { result: measure(request) };
          } catch (error) {
            return { error };
          }
        });
      });
      return requests.map(async (_, index) => {
        const outcome = (await done)[index]!;
        if ('error' in outcome) throw outcome.error;
        return outcome.result;
      });
    },
  };
  return {
    backend,
    batches,
    mostAtOnce: () => mostAtOnce,
    /** Holds every batch started from now on until the returned function is called. */
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return release;
    },
  };
}

/** `seconds` of audio whose level ramps with `seed`, so every piece is different. */
function piece(seed: number, seconds = 1): Float32Array {
  const samples = new Float32Array(Math.round(seconds * RATE));
  for (let index = 0; index < samples.length; index++) samples[index] = ((index * (seed + 3)) % 97) / 97;
  return samples;
}

function ask(audio: Float32Array, signal: AbortSignal = new AbortController().signal, language?: string): TranscribeRequest {
  return { audio, sampleRate: RATE, language, task: 'transcribe', timestamps: true, signal };
}

/** Polls `condition` until it holds or `ms` pass (deadline-based, for a busy machine). */
async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('RequestBatcher', () => {
  it('gives concurrent pieces the results they get one at a time, in fewer calls', async () => {
    const { backend, batches } = tallyBackend();
    const pieces = Array.from({ length: 6 }, (_, index) => piece(index, 0.5 + index * 0.3));
    const sequential: TranscriptionResult[] = [];
    for (const audio of pieces) sequential.push(await backend.transcribe(ask(audio)));
    const batcher = new RequestBatcher(backend, { windowMs: 20, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const concurrent = await Promise.all(pieces.map((audio) => batcher.transcribe(ask(audio))));
    expect(concurrent).toEqual(sequential);
    expect(new Set(concurrent.map((result) => result.text)).size).toBe(6);
    expect(batches).toEqual([6]);
  });

  it('never puts more than maxBatchSize pieces in a batch, and a full batch does not wait for its window', async () => {
    const { backend, batches } = tallyBackend();
    // A window far longer than the test's deadline: only full batches may start.
    const batcher = new RequestBatcher(backend, { windowMs: 60_000, maxBatchSize: 4, maxConcurrentBatches: 1 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, index) => batcher.transcribe(ask(piece(index)))));
    expect(batches).toEqual([4, 4]);
    expect(results).toHaveLength(8);
  });

  it('reads a function limit each time a batch forms (an engine may change its size at load)', async () => {
    const { backend, batches } = tallyBackend();
    let limit = 2;
    const batcher = new RequestBatcher(backend, { windowMs: 60_000, maxBatchSize: () => limit, maxConcurrentBatches: 1 });
    await Promise.all(Array.from({ length: 4 }, (_, index) => batcher.transcribe(ask(piece(index)))));
    limit = 3;
    await Promise.all(Array.from({ length: 3 }, (_, index) => batcher.transcribe(ask(piece(index)))));
    expect(batches).toEqual([2, 2, 3]);
  });

  it('waits out the window for pieces that arrive inside it, and starts a new batch for later ones', async () => {
    const { backend, batches, hold } = tallyBackend();
    const windowMs = 300;
    const batcher = new RequestBatcher(backend, { windowMs, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const release = hold();
    const started = performance.now();
    const first = batcher.transcribe(ask(piece(1)));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = batcher.transcribe(ask(piece(2)));
    await until(() => batches.length === 1);
    // The batch started no earlier than the window allows, with both pieces.
    // (Timers may fire up to a millisecond before performance.now() says the delay is over.)
    expect(performance.now() - started).toBeGreaterThanOrEqual(windowMs - 5);
    expect(batches).toEqual([2]);
    // Arriving while the batch runs: waits in line, then goes in a batch of its own.
    const third = batcher.transcribe(ask(piece(3)));
    expect(batcher.waiting).toBe(1);
    release();
    await Promise.all([first, second, third]);
    expect(batches).toEqual([2, 1]);
  });

  it('starts a lone piece right away with a window of 0', async () => {
    const { backend, batches } = tallyBackend();
    const batcher = new RequestBatcher(backend, { windowMs: 0, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const result = await batcher.transcribe(ask(piece(4)));
    expect(result).toEqual(await backend.transcribe(ask(piece(4))));
    expect(batches).toEqual([1]);
  });

  /**
   * A closed loop of `clients` clients: each sends a piece, and when its answer comes back
   * sends its next one after `thinkMs[i]` (the upload and decoding of a real request).
   * Every batch is held `holdMs` by the engine. Returns the batch sizes.
   */
  async function closedLoop(lingerMs: number, clients: number, rounds: number, holdMs: number, thinkMs: (client: number) => number): Promise<number[]> {
    const tally = tallyBackend();
    const batcher = new RequestBatcher(tally.backend, { windowMs: 0, lingerMs, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const batchCall = tally.backend.transcribeBatch!.bind(tally.backend);
    // Every batch runs holdMs.
    tally.backend.transcribeBatch = (requests) => {
      const release = tally.hold();
      setTimeout(release, holdMs);
      return batchCall(requests);
    };
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        for (let round = 0; round < rounds; round++) {
          if (round > 0 || client > 0) await new Promise((resolve) => setTimeout(resolve, thinkMs(client)));
          await batcher.transcribe(ask(piece(client)));
        }
      }),
    );
    return tally.batches;
  }

  it('waits for the clients of the last batch to come back, so a closed loop does not stay split into small batches', async () => {
    // The first client is alone for its first piece; the other three arrive while it runs.
    // Each then comes back 0, 20 or 40 ms after its answer.
    const think = (client: number) => (client === 0 ? 0 : 20 * (client - 1));
    const waiting = await closedLoop(5000, 4, 3, 800, think);
    const hasty = await closedLoop(0, 4, 3, 800, think);
    // Without waiting, whoever is back first starts a batch alone, and the split persists.
    expect(hasty.slice(1, -1).some((size) => size < 4)).toBe(true);
    // Waiting (up to a quarter of the 800 ms batch, 200 ms): after the split at the start, full batches.
    expect(waiting[0]).toBe(1);
    expect(waiting.slice(1, -1).every((size) => size === 4)).toBe(true);
    expect(waiting.length).toBeLessThan(hasty.length);
    expect(hasty.reduce((sum, size) => sum + size, 0)).toBe(12);
    expect(waiting.reduce((sum, size) => sum + size, 0)).toBe(12);
  });

  it('counts the requests already waiting too, so a loop split 5 + 3 comes together in full batches', async () => {
    // Five clients start together; three more arrive while their batch runs and wait. Each
    // client comes back 10 to 50 ms after its answer (staggered), for four requests each.
    const tally = tallyBackend();
    const batcher = new RequestBatcher(tally.backend, { windowMs: 0, lingerMs: 5000, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const batchCall = tally.backend.transcribeBatch!.bind(tally.backend);
    tally.backend.transcribeBatch = (requests) => {
      const release = tally.hold();
      setTimeout(release, 800);
      return batchCall(requests);
    };
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const client = async (id: number, firstDelay: number) => {
      if (firstDelay > 0) await sleep(firstDelay);
      for (let round = 0; round < 4; round++) {
        if (round > 0) await sleep(10 * ((id % 5) + 1));
        await batcher.transcribe(ask(piece(id * 10 + round)));
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map((id) => client(id, 0)).concat([5, 6, 7].map((id) => client(id, 100))));
    // The second batch waits for the five coming back on top of the three in line (before,
    // it started as soon as two of the five were back, and every batch after held 5).
    expect(tally.batches).toEqual([5, 8, 8, 8, 3]);
  });

  it('waits at most a quarter of the last batch, and not at all after a batch of one request (one client, or the pieces of one recording)', async () => {
    const tally = tallyBackend();
    const batcher = new RequestBatcher(tally.backend, { windowMs: 0, lingerMs: 60_000, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const startedAt: number[] = [];
    const batchCall = tally.backend.transcribeBatch!.bind(tally.backend);
    tally.backend.transcribeBatch = (requests) => {
      startedAt.push(performance.now());
      return batchCall(requests);
    };
    const timeToStart = async (work: () => Promise<unknown>) => {
      const before = startedAt.length;
      const sent = performance.now();
      await work();
      return startedAt[before]! - sent;
    };
    // A batch of two requests held 2 s; then only one of its clients comes back: it waits about 500 ms, not 60 s.
    let release = tally.hold();
    const first = Promise.all([batcher.transcribe(ask(piece(1))), batcher.transcribe(ask(piece(2)))]);
    await until(() => tally.batches.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    release();
    await first;
    tally.hold()(); // later batches run at once
    const waited = await timeToStart(() => batcher.transcribe(ask(piece(3))));
    expect(waited).toBeGreaterThanOrEqual(150);
    expect(waited).toBeLessThan(2000);
    // Three pieces of one recording (one signal) held 2 s: the next piece does not wait for "others".
    const recording = new AbortController().signal;
    release = tally.hold();
    const pieces = Promise.all([1, 2, 3].map((seed) => batcher.transcribe(ask(piece(seed), recording))));
    await until(() => tally.batches.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    release();
    await pieces;
    tally.hold()();
    expect(await timeToStart(() => batcher.transcribe(ask(piece(4), recording)))).toBeLessThan(120);
    expect(tally.batches).toEqual([2, 1, 3, 1]);
  });

  it('waits for the requests on their way (uploads still being decoded), so a burst 20 ms apart is one batch', async () => {
    const burst = async (expected: boolean) => {
      const tally = tallyBackend();
      let onTheWay = 4;
      const batcher = new RequestBatcher(tally.backend, {
        windowMs: 5,
        lingerMs: 2000,
        maxBatchSize: 8,
        maxConcurrentBatches: 1,
        ...(expected ? { expected: () => onTheWay } : {}),
      });
      const results: Array<Promise<TranscriptionResult>> = [];
      for (let seed = 1; seed <= 4; seed++) {
        onTheWay--; // as the server does: no longer on its way once it hands over its piece
        results.push(batcher.transcribe(ask(piece(seed))));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await Promise.all(results);
      return tally.batches;
    };
    expect(await burst(true)).toEqual([4]);
    // Without the count, the 5 ms window splits the same burst.
    expect((await burst(false)).length).toBeGreaterThan(1);
  });

  it('waits for expected requests at most EXPECTED_WAIT_MS (and lingerMs), and not at all with lingerMs 0', async () => {
    const timeToStart = async (lingerMs: number) => {
      const tally = tallyBackend();
      // One request that never comes (say, its upload fails after it took the model).
      const batcher = new RequestBatcher(tally.backend, { windowMs: 0, lingerMs, maxBatchSize: 8, maxConcurrentBatches: 1, expected: () => 1 });
      const sent = performance.now();
      await batcher.transcribe(ask(piece(1)));
      expect(tally.batches).toEqual([1]);
      return performance.now() - sent;
    };
    const capped = await timeToStart(60_000);
    expect(capped).toBeGreaterThanOrEqual(EXPECTED_WAIT_MS - 5);
    expect(capped).toBeLessThan(EXPECTED_WAIT_MS + 400);
    const short = await timeToStart(100);
    expect(short).toBeGreaterThanOrEqual(95);
    expect(short).toBeLessThan(EXPECTED_WAIT_MS);
    expect(await timeToStart(0)).toBeLessThan(80);
  });

  it('runs at most maxConcurrentBatches batches at once', async () => {
    const { backend, batches, mostAtOnce, hold } = tallyBackend();
    const batcher = new RequestBatcher(backend, { windowMs: 0, maxBatchSize: 2, maxConcurrentBatches: 2 });
    const release = hold();
    const all = Array.from({ length: 7 }, (_, index) => batcher.transcribe(ask(piece(index))));
    await until(() => batches.length === 2);
    expect(batcher.running).toBe(2);
    expect(batcher.waiting).toBe(3);
    release();
    await Promise.all(all);
    expect(mostAtOnce()).toBe(2);
    expect(batches.reduce((sum, size) => sum + size, 0)).toBe(7);
    expect(Math.max(...batches)).toBeLessThanOrEqual(2);
  });

  it('lets a piece whose client went away leave the line without disturbing the others', async () => {
    const { backend, batches, hold } = tallyBackend();
    const batcher = new RequestBatcher(backend, { windowMs: 0, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const release = hold();
    const busy = batcher.transcribe(ask(piece(9)));
    await until(() => batches.length === 1);
    // These wait in line behind the running batch.
    const controllers = [0, 1, 2].map(() => new AbortController());
    const waiting = controllers.map((controller, index) => batcher.transcribe(ask(piece(index), controller.signal)));
    controllers[1]!.abort(new SpeechError('ABORTED', 'client disconnected'));
    await expect(waiting[1]).rejects.toMatchObject({ code: 'ABORTED' });
    expect(batcher.waiting).toBe(2);
    release();
    await busy;
    expect(await waiting[0]).toEqual(await backend.transcribe(ask(piece(0))));
    expect(await waiting[2]).toEqual(await backend.transcribe(ask(piece(2))));
    expect(batches).toEqual([1, 2]);
  });

  it('lets a piece aborted inside a running batch fail alone', async () => {
    const { backend, batches, hold } = tallyBackend();
    const batcher = new RequestBatcher(backend, { windowMs: 5, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const release = hold();
    const controllers = [0, 1, 2].map(() => new AbortController());
    const pending = controllers.map((controller, index) => batcher.transcribe(ask(piece(index), controller.signal)));
    await until(() => batches.length === 1);
    controllers[0]!.abort();
    release();
    const outcomes = await Promise.allSettled(pending);
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(outcomes[1]).toEqual({ status: 'fulfilled', value: await backend.transcribe(ask(piece(1))) });
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: await backend.transcribe(ask(piece(2))) });
    expect(batches).toEqual([3]);
  });

  it('rejects at once a piece whose signal has already aborted', async () => {
    const { backend, batches } = tallyBackend();
    const batcher = new RequestBatcher(backend, { windowMs: 0, maxBatchSize: 8, maxConcurrentBatches: 1 });
    await expect(batcher.transcribe(ask(piece(1), AbortSignal.abort()))).rejects.toBeDefined();
    expect(batches).toEqual([]);
  });

  it('hands a broken batch call to every piece of that batch only', async () => {
    const { backend } = tallyBackend();
    let calls = 0;
    const flaky: AsrBackend = {
      ...backend,
      transcribeBatch(requests) {
        if (calls++ === 0) throw new Error('engine broke');
        return backend.transcribeBatch!(requests);
      },
    };
    const batcher = new RequestBatcher(flaky, { windowMs: 0, maxBatchSize: 2, maxConcurrentBatches: 1 });
    const outcomes = await Promise.allSettled([0, 1, 2].map((index) => batcher.transcribe(ask(piece(index)))));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });
});

/** Speech where the signal is loud: the chunker's detector for these tests. */
const loudDetector: SpeechDetector = {
  createStream: () => ({
    async process(samples: Float32Array) {
      const probabilities = new Float32Array(Math.floor(samples.length / 512));
      for (let window = 0; window < probabilities.length; window++) {
        let peak = 0;
        for (let index = window * 512; index < (window + 1) * 512; index++) peak = Math.max(peak, Math.abs(samples[index]!));
        probabilities[window] = peak >= 0.5 ? 1 : 0;
      }
      return probabilities;
    },
  }),
};

/** Alternating stretches of speech (a ramp) and silence, `seconds` each. */
function recording(seed: number, stretches: number[]): Float32Array {
  const parts = stretches.map((seconds, index) => (index % 2 === 0 ? piece(seed + index, seconds) : new Float32Array(seconds * RATE)));
  return joinSamples(parts);
}

async function* source(samples: Float32Array): AsyncGenerator<Float32Array> {
  for (let offset = 0; offset < samples.length; offset += 16384) yield samples.subarray(offset, offset + 16384);
}

describe('batchingBackend', () => {
  it('merges the pieces of concurrent long recordings and short requests, with the sequential results', async () => {
    const { backend, batches } = tallyBackend(2);
    const chunker = new VadChunker(loudDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const recordings = [recording(1, [5, 40, 9, 40, 3]), recording(2, [12, 36, 4]), piece(7, 6)];
    const request = { language: 'en', task: 'transcribe' as const, timestamps: true, signal: new AbortController().signal };
    const sequential = [];
    for (const samples of recordings) sequential.push(await chunker.transcribe(backend, source(samples), request));
    const sequentialCalls = batches.length;
    const batched = batchingBackend(backend, { windowMs: 30, maxBatchSize: 8, maxConcurrentBatches: 1 });
    const concurrent = await Promise.all(recordings.map((samples) => chunker.transcribe(batched, source(samples), request)));
    expect(concurrent).toEqual(sequential);
    expect(concurrent[0]!.segments).toHaveLength(3);
    // Everything else is the backend's own: capabilities, load, dispose.
    expect(batched.capabilities).toBe(backend.capabilities);
    await batched.load();
    // Six pieces went out in fewer batches than one per piece.
    const merged = batches.slice(sequentialCalls);
    expect(merged.reduce((sum, size) => sum + size, 0)).toBe(6);
    expect(merged.length).toBeLessThan(6);
  });

  it('works under the pool: maxRequests admits a batch worth of requests while max_concurrency still reads 1', async () => {
    const { backend, batches, hold } = tallyBackend();
    const batched = batchingBackend(backend, { windowMs: 0, maxBatchSize: 3, maxConcurrentBatches: 1 });
    const pool = new EvictionPool([{ slug: 'tally', backend: batched, maxConcurrency: 1, maxRequests: 3 }]);
    const release = hold();
    const requests = [0, 1, 2, 3].map((index) => pool.use('tally', (leased) => (leased as AsrBackend).transcribe(ask(piece(index)))));
    // Three requests hold a lease (a batch worth), the fourth waits in the pool's line.
    await until(() => pool.usage()[0]!.active === 3 && pool.usage()[0]!.waiting === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pool.usage()[0]).toMatchObject({ active: 3, waiting: 1 });
    expect(pool.status()[0]!.max_concurrency).toBe(1);
    release();
    const results = await Promise.all(requests);
    expect(results[3]).toEqual(await backend.transcribe(ask(piece(3))));
    await pool.close();
  });
});
