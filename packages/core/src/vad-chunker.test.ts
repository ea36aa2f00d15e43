import { describe, expect, it, vi } from 'vitest';
import type { AsrBackend, AsrCapabilities, TranscribeRequest } from './backend.js';
import { takeHandedOver } from './handed-over-audio.js';
import { DEFAULT_LONG_AUDIO_OPTIONS, type LongAudioOptions } from './long-audio-options.js';
import { SpeechError } from './speech-error.js';
import type { TranscriptionResult } from './transcription-result.js';
import { VadChunker, type AudioChunk, type LongAudioRequest } from './vad-chunker.js';
import type { SpeechDetector } from './vad-speech-detector.js';

const RATE = 16000;
const W = 512;
const PAD = 3200;

/**
 * A detector that reads speech straight from the audio: a window is speech when its
 * first sample is 1. Tests write speech as runs of ones.
 */
const amplitudeDetector: SpeechDetector = {
  createStream: () => ({
    process: (windows) => {
      const probabilities = new Float32Array(windows.length / W);
      for (let index = 0; index < probabilities.length; index++) probabilities[index] = windows[index * W]! >= 1 ? 0.9 : 0.1;
      return probabilities;
    },
  }),
};

/** Audio from [seconds, isSpeech] pieces: speech is ones, silence zeros. */
function audio(...pieces: Array<[number, boolean]>): Float32Array {
  const total = pieces.reduce((sum, [seconds]) => sum + Math.round(seconds * RATE), 0);
  const samples = new Float32Array(total);
  let offset = 0;
  for (const [seconds, speech] of pieces) {
    const length = Math.round(seconds * RATE);
    if (speech) samples.fill(1, offset, offset + length);
    offset += length;
  }
  return samples;
}

/** Yields `samples` in blocks of `size`, counting how many blocks were pulled. */
function blocks(samples: Float32Array, size = 4096) {
  const state = { pulled: 0, closed: false };
  async function* generate() {
    try {
      for (let offset = 0; offset < samples.length; offset += size) {
        state.pulled++;
        yield samples.slice(offset, offset + size);
      }
    } finally {
      state.closed = true;
    }
  }
  return { source: generate(), state, count: Math.ceil(samples.length / size) };
}

const capabilities = (longForm: boolean): AsrCapabilities => ({
  wordTimestamps: true,
  segmentTimestamps: true,
  streaming: false,
  translation: false,
  languages: 'any',
  longForm,
});

/** A backend answering one segment per chunk (and one word), text = the chunk's index. */
function fakeBackend(options: { longForm?: boolean; transcribe?: (request: TranscribeRequest, index: number) => Promise<TranscriptionResult> } = {}) {
  const calls: TranscribeRequest[] = [];
  const backend: AsrBackend = {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: capabilities(options.longForm ?? false),
    load: async () => {},
    dispose: async () => {},
    transcribe: async (request) => {
      const index = calls.length;
      calls.push(request);
      if (options.transcribe) return options.transcribe(request, index);
      const length = request.audio.length / request.sampleRate;
      return {
        text: ` ${index} `,
        language: 'en',
        segments: [{ id: 0, seek: 0, start: 0.1, end: length + 0.5, text: ` ${index}` }],
        words: [{ word: String(index), start: 0.1, end: Math.max(0.2, length - 0.1) }],
      };
    },
  };
  return { backend, calls };
}

const request: LongAudioRequest = { task: 'transcribe', timestamps: true, signal: new AbortController().signal };

async function collectChunks(chunker: VadChunker, samples: Float32Array) {
  const generator = chunker.chunks(blocks(samples).source);
  const chunks: AudioChunk[] = [];
  for (;;) {
    const next = await generator.next();
    if (next.done) return { chunks, summary: next.value };
    chunks.push(next.value);
  }
}

describe('VadChunker: when to chunk', () => {
  it('sends audio of exactly the threshold (30 s) whole and never loads the detector', async () => {
    const load = vi.fn(async () => amplitudeDetector);
    const chunker = new VadChunker(load, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = fakeBackend();
    const samples = audio([10, false], [10, true], [10, false]);
    const result = await chunker.transcribe(backend, blocks(samples).source, request);
    expect(load).not.toHaveBeenCalled();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.audio).toEqual(samples);
    expect(calls[0]!.sampleRate).toBe(RATE);
    expect(result.duration).toBe(30);
    expect(result.text).toBe(' 0 '); // a whole-file result is the backend's own
  });

  it('chunks audio one sample longer than the threshold', async () => {
    const load = vi.fn(async () => amplitudeDetector);
    const chunker = new VadChunker(load, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = new Float32Array(30 * RATE + 1);
    samples.fill(1, 5 * RATE, 6 * RATE);
    const { chunks, summary } = await collectChunks(chunker, samples);
    expect(load).toHaveBeenCalledTimes(1);
    expect(summary).toEqual({ totalSamples: 30 * RATE + 1, chunked: true });
    // Speech is windows 157 (the first starting at or after 5 s) to 187; the region ends at the start of 187.
    expect(chunks.map((chunk) => [chunk.start, chunk.audio.length])).toEqual([[157 * W - PAD, (187 - 157) * W + 2 * PAD]]);
  });

  it('gives a longForm backend the whole audio, whatever its length, without loading the detector', async () => {
    const load = vi.fn(async () => amplitudeDetector);
    const chunker = new VadChunker(load, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = fakeBackend({ longForm: true });
    const samples = audio([50, true], [20, false], [50, true]);
    const result = await chunker.transcribe(backend, blocks(samples).source, request);
    expect(load).not.toHaveBeenCalled();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.audio).toEqual(samples);
    expect(result.duration).toBe(120);
  });

  it('accepts one Float32Array as the source', async () => {
    const { backend, calls } = fakeBackend();
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = audio([5, false], [3, true], [40, false], [3, true], [5, false]);
    const result = await chunker.transcribe(backend, samples, request);
    expect(calls).toHaveLength(2);
    expect(result.duration).toBe(56);
  });
});

describe('VadChunker: stitching', () => {
  it('shifts segments and words onto the source timeline, renumbers ids, joins texts', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = fakeBackend();
    // Three speech regions too far apart to merge (each gap leaves the 28 s cap).
    const samples = audio([2, false], [10, true], [20, false], [10, true], [20, false], [10, true], [3, false]);
    const result = await chunker.transcribe(backend, blocks(samples).source, request);
    expect(calls).toHaveLength(3);
    expect(result.text).toBe('0 1 2');
    expect(result.duration).toBe(75);
    expect(result.language).toBe('en');
    expect(result.segments.map((segment) => segment.id)).toEqual([0, 1, 2]);
    // Each chunk starts 200 ms before the first window that starts inside its speech.
    const starts = [2, 32, 62].map((seconds) => (Math.ceil((seconds * RATE) / W) * W - PAD) / RATE);
    expect(result.segments.map((segment) => segment.start)).toEqual(starts.map((start) => start + 0.1));
    // Each backend segment ended 0.5 s past its chunk: clamped to the chunk's end.
    result.segments.forEach((segment, index) => {
      const chunkEnd = starts[index]! + calls[index]!.audio.length / RATE;
      expect(segment.end).toBeCloseTo(chunkEnd, 9);
      expect(segment.seek).toBe(Math.round(starts[index]! * 100));
    });
    expect(result.words.map((word) => word.word)).toEqual(['0', '1', '2']);
    expect(result.words[1]!.start).toBeCloseTo(starts[1]! + 0.1, 9);
    for (const item of [...result.segments, ...result.words]) {
      expect(item.start).toBeGreaterThanOrEqual(0);
      expect(item.end).toBeLessThanOrEqual(result.duration);
      expect(item.end).toBeGreaterThanOrEqual(item.start);
    }
  });

  it('skips empty chunk texts when joining and drops entries without times', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend } = fakeBackend({
      transcribe: async (_request, index) => ({
        text: index === 1 ? '   ' : ` part ${index}`,
        segments: [
          { id: 7, start: 0, end: 1, text: 'a' },
          { id: 8, start: Number.NaN, end: 1, text: 'no time' },
        ],
        words: [],
        warnings: ['ignored prompt'],
      }),
    });
    const samples = audio([2, false], [5, true], [30, false], [5, true], [30, false], [5, true], [3, false]);
    const result = await chunker.transcribe(backend, samples, request);
    expect(result.text).toBe('part 0 part 2');
    expect(result.segments.map((segment) => segment.id)).toEqual([0, 1, 2]);
    expect(result.warnings).toEqual(['ignored prompt']);
  });

  it('returns an empty text, no segments and the duration when there is no speech', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = fakeBackend();
    const result = await chunker.transcribe(backend, blocks(new Float32Array(100 * RATE)).source, request);
    expect(calls).toHaveLength(0);
    expect(result).toEqual({ text: '', duration: 100, segments: [], words: [] });
  });

  it('passes the language of the first chunk with text to the later chunks', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = fakeBackend({
      transcribe: async (_request, index) => ({ text: index === 0 ? '' : 'hallo', language: index === 0 ? 'en' : 'de', segments: [], words: [] }),
    });
    const samples = audio([2, false], [5, true], [30, false], [5, true], [30, false], [5, true], [3, false]);
    const result = await chunker.transcribe(backend, samples, request);
    expect(calls.map((call) => call.language)).toEqual([undefined, undefined, 'de']);
    expect(result.language).toBe('de');
    const fixed = await chunker.transcribe(fakeBackend().backend, samples, { ...request, language: 'fr' });
    expect(fixed.language).toBe('fr');
  });

  it('forwards the request fields to every chunk', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = fakeBackend();
    const samples = audio([2, false], [5, true], [30, false], [5, true], [3, false]);
    await chunker.transcribe(backend, samples, { ...request, task: 'translate', prompt: 'names', temperature: 0.2, timestamps: false });
    expect(calls).toHaveLength(2);
    for (const call of calls) expect(call).toMatchObject({ task: 'translate', prompt: 'names', temperature: 0.2, timestamps: false, signal: request.signal });
  });
});

describe('VadChunker: streaming', () => {
  it('sends the first chunk to the backend while the source is still being read', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = audio([2, false], [5, true], [300, false], [5, true], [3, false]);
    const input = blocks(samples);
    const pulledAtCall: number[] = [];
    const { backend } = fakeBackend({
      transcribe: async () => {
        pulledAtCall.push(input.state.pulled);
        return { text: 'x', segments: [], words: [] };
      },
    });
    await chunker.transcribe(backend, input.source, request);
    expect(pulledAtCall).toHaveLength(2);
    expect(pulledAtCall[0]).toBeLessThan(input.count / 2);
  });

  it('stops reading ahead while the backend is busy (one chunk queued at most)', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    // Ten regions 40 s apart: ten chunks.
    const pieces: Array<[number, boolean]> = [];
    for (let index = 0; index < 10; index++) pieces.push([5, true], [35, false]);
    const input = blocks(audio(...pieces));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { backend, calls } = fakeBackend({
      transcribe: async () => {
        await gate;
        return { text: 'x', segments: [], words: [] };
      },
    });
    const done = chunker.transcribe(backend, input.source, request);
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The first chunk is out and the second is cut; reading waits for the backend.
    expect(input.state.pulled).toBeLessThan(input.count / 3);
    release();
    const result = await done;
    expect(calls).toHaveLength(10);
    expect(result.text).toBe(Array(10).fill('x').join(' '));
  });

  it("cuts chunks that are the source's own samples, in order, apart and within the cap", async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const pieces: Array<[number, boolean]> = [];
    for (let index = 0; index < 20; index++) pieces.push([index % 3 === 0 ? 70 : 8, true], [index % 2 === 0 ? 0.2 : 3, false]);
    const samples = audio(...pieces);
    const { chunks, summary } = await collectChunks(chunker, samples);
    expect(summary.chunked).toBe(true);
    let previousEnd = 0;
    for (const chunk of chunks) {
      expect(chunk.audio.length).toBeLessThanOrEqual(28 * RATE);
      expect(chunk.start).toBeGreaterThanOrEqual(previousEnd);
      // The chunk's audio is the source's, sample for sample.
      const source = Buffer.from(samples.buffer, chunk.start * 4, chunk.audio.length * 4);
      expect(Buffer.from(chunk.audio.buffer, chunk.audio.byteOffset, chunk.audio.byteLength).equals(source)).toBe(true);
      previousEnd = chunk.start + chunk.audio.length;
    }
  });
});

describe('VadChunker: failures', () => {
  it('stops reading the source when the backend fails, and leaves nothing running', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const pieces: Array<[number, boolean]> = [];
    for (let index = 0; index < 10; index++) pieces.push([5, true], [35, false]);
    const input = blocks(audio(...pieces));
    const { backend } = fakeBackend({
      transcribe: async (_request, index) => {
        if (index === 1) throw new SpeechError('INFERENCE_FAILED', 'engine broke');
        return { text: 'x', segments: [], words: [] };
      },
    });
    await expect(chunker.transcribe(backend, input.source, request)).rejects.toThrow('engine broke');
    expect(input.state.closed).toBe(true);
    expect(input.state.pulled).toBeLessThan(input.count);
  });

  it('answers an aborted request with ABORTED and closes the source', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const controller = new AbortController();
    const input = blocks(audio([5, true], [300, false], [5, true]));
    const { backend } = fakeBackend({
      transcribe: async () => {
        controller.abort();
        return { text: 'x', segments: [], words: [] };
      },
    });
    const failure = await chunker.transcribe(backend, input.source, { ...request, signal: controller.signal }).catch((error: unknown) => error);
    expect(SpeechError.is(failure) && failure.code).toBe('ABORTED');
    expect(input.state.closed).toBe(true);
  });

  it('reports a detector that fails to load, and tries again on the next request', async () => {
    let attempts = 0;
    const chunker = new VadChunker(async () => {
      attempts++;
      if (attempts === 1) throw new SpeechError('MODEL_UNAVAILABLE', 'no onnxruntime-node');
      return amplitudeDetector;
    }, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = audio([5, true], [40, false]);
    await expect(chunker.transcribe(fakeBackend().backend, samples, request)).rejects.toThrow('no onnxruntime-node');
    const result = await chunker.transcribe(fakeBackend().backend, samples, request);
    expect(result.text).toBe('0');
    expect(attempts).toBe(2);
  });

  it('refuses invalid options', () => {
    const options: LongAudioOptions = { ...DEFAULT_LONG_AUDIO_OPTIONS, speechPadMs: -1 };
    expect(() => new VadChunker(amplitudeDetector, options)).toThrow(/speechPadMs/);
  });
});

/**
 * A small real backend: it reads the audio. Each piece's text is the number of whole
 * seconds of speech in it (runs of ones), its one segment spans the speech, and its
 * language is the request's or, without one, 'en' for pieces with speech (none at all
 * with `detectsLanguage: false`, as Parakeet reports when not asked). With
 * `maxBatchSize` it also transcribes batches, in one call, and records their sizes.
 */
function measuringBackend(
  maxBatchSize?: number,
  hooks: { onBatch?: (size: number) => Promise<void> | void; fail?: number; detectsLanguage?: boolean } = {},
) {
  const batches: Array<Array<string | undefined>> = [];
  let served = 0;
  const measure = (request: TranscribeRequest): TranscriptionResult => {
    if (served++ === hooks.fail) throw new SpeechError('INFERENCE_FAILED', 'engine broke');
    let first = -1;
    let last = -1;
    let speech = 0;
    for (let index = 0; index < request.audio.length; index++) {
      if (request.audio[index]! < 1) continue;
      if (first < 0) first = index;
      last = index;
      speech++;
    }
    const seconds = String(Math.round(speech / request.sampleRate));
    const language = request.language ?? (speech > 0 && hooks.detectsLanguage !== false ? 'en' : undefined);
    const segments = first < 0 ? [] : [{ id: 0, seek: 0, start: first / request.sampleRate, end: (last + 1) / request.sampleRate, text: ` ${seconds}` }];
    return { text: first < 0 ? '' : ` ${seconds}`, language, segments, words: [] };
  };
  const backend: AsrBackend = {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: { ...capabilities(false), ...(maxBatchSize === undefined ? {} : { maxBatchSize }) },
    load: async () => {},
    dispose: async () => {},
    transcribe: async (request) => measure(request),
  };
  if (maxBatchSize !== undefined) {
    backend.transcribeBatch = (requests) => {
      batches.push(requests.map((item) => item.language));
      const all = (async () => {
        await hooks.onBatch?.(requests.length);
        return requests.map((item) => {
          try {
            return { result: measure(item) };
          } catch (error) {
            return { error };
          }
        });
      })();
      return requests.map(async (_, index) => {
        const outcome = (await all)[index]!;
        if ('error' in outcome) throw outcome.error;
        return outcome.result;
      });
    };
  }
  return { backend, batches };
}

/** `count` speech regions of `seconds[i % length]` seconds, each followed by 35 s of silence: one chunk each. */
function regions(count: number, seconds: number[] = [3, 7, 12]): Float32Array {
  const pieces: Array<[number, boolean]> = [];
  for (let index = 0; index < count; index++) pieces.push([seconds[index % seconds.length]!, true], [35, false]);
  return audio(...pieces);
}

describe('VadChunker: batching backends', () => {
  it('sends the chunks in groups of the engine size, with results equal to the sequential path', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = regions(7);
    const sequential = await chunker.transcribe(measuringBackend().backend, blocks(samples).source, { ...request, language: 'en' });
    const { backend, batches } = measuringBackend(3);
    const batched = await chunker.transcribe(backend, blocks(samples).source, { ...request, language: 'en' });
    expect(batches.map((batch) => batch.length)).toEqual([3, 3, 1]);
    expect(batched).toEqual(sequential);
    expect(batched.text).toBe('3 7 12 3 7 12 3');
    expect(batched.segments).toHaveLength(7);
  });

  it('goes one chunk at a time until a language is known, then batches in that language', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = regions(6);
    const { backend, batches } = measuringBackend(2);
    const result = await chunker.transcribe(backend, samples, request);
    expect(batches).toEqual([[undefined], ['en', 'en'], ['en', 'en'], ['en']]);
    expect(result).toEqual(await chunker.transcribe(measuringBackend().backend, samples, request));
  });

  it('batches after the first chunk with text when the engine reports no language', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = regions(5);
    const { backend, batches } = measuringBackend(2, { detectsLanguage: false });
    const result = await chunker.transcribe(backend, samples, request);
    expect(batches).toEqual([[undefined], [undefined, undefined], [undefined, undefined]]);
    expect(result).toEqual(await chunker.transcribe(measuringBackend(undefined, { detectsLanguage: false }).backend, samples, request));
    expect(result.text).toBe('3 7 12 3 7');
  });

  it('keeps the path of today for a backend without the capability, or with a batch size of 1', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, batches } = measuringBackend(1);
    const result = await chunker.transcribe(backend, regions(3), { ...request, language: 'en' });
    expect(batches).toEqual([]);
    expect(result.text).toBe('3 7 12');
  });

  it('sends a short source whole, as a batch of one', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, batches } = measuringBackend(4);
    const result = await chunker.transcribe(backend, audio([2, false], [5, true], [3, false]), { ...request, language: 'de' });
    expect(batches).toEqual([['de']]);
    expect(result).toMatchObject({ text: ' 5', language: 'de', duration: 10 });
  });

  it('streams: the first group goes out while the source is still read, and reading waits for the engine (one group ahead at most)', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const input = blocks(regions(12));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pulledAtBatch: number[] = [];
    const { backend, batches } = measuringBackend(3, {
      onBatch: async () => {
        pulledAtBatch.push(input.state.pulled);
        await gate;
      },
    });
    const done = chunker.transcribe(backend, input.source, { ...request, language: 'en' });
    await vi.waitFor(() => expect(batches).toHaveLength(1));
    // The next group (3 chunks of about 40 s each) is cut while the first runs, then reading waits.
    await vi.waitFor(() => expect(input.state.pulled).toBeGreaterThan(input.count / 4));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(input.state.pulled).toBeLessThan(input.count * 0.6);
    release();
    const result = await done;
    expect(pulledAtBatch[0]).toBeLessThan(input.count / 3);
    expect(batches.map((batch) => batch.length)).toEqual([3, 3, 3, 3]);
    expect(result.segments).toHaveLength(12);
  });

  it('fails with the first failing piece, closes the source and leaves nothing running', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const input = blocks(regions(12));
    const { backend, batches } = measuringBackend(3, { fail: 4 });
    await expect(chunker.transcribe(backend, input.source, { ...request, language: 'en' })).rejects.toThrow('engine broke');
    expect(batches).toHaveLength(2);
    expect(input.state.closed).toBe(true);
    expect(input.state.pulled).toBeLessThan(input.count);
  });

  it('answers an aborted request with ABORTED and closes the source', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const controller = new AbortController();
    const input = blocks(regions(12));
    const { backend } = measuringBackend(3, { onBatch: () => controller.abort() });
    const failure = await chunker.transcribe(backend, input.source, { ...request, language: 'en', signal: controller.signal }).catch((error: unknown) => error);
    expect(SpeechError.is(failure) && failure.code).toBe('ABORTED');
    expect(input.state.closed).toBe(true);
  });
});

describe('VadChunker: handing pieces over', () => {
  /**
   * What a worker client does with a piece: a handed-over buffer is transferred (the array
   * it came in reads empty after), anything else copied. Returns the array the worker sees.
   */
  function receive(piece: TranscribeRequest): { audio: Float32Array; taken: boolean } {
    const taken = takeHandedOver(piece.audio);
    if (!taken) return { audio: piece.audio.slice(), taken: false };
    const moved = structuredClone(taken, { transfer: [taken.buffer as ArrayBuffer] });
    expect(piece.audio.length).toBe(0);
    return { audio: moved, taken: true };
  }

  it('hands every piece over, and stitches the same when the backend takes the buffers', async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = regions(4);
    const options = { ...request, language: 'en' };
    let taken = 0;
    const sequential = measuringBackend();
    const takingBackend: AsrBackend = {
      ...sequential.backend,
      transcribe: (piece) => {
        const received = receive(piece);
        if (received.taken) taken++;
        return sequential.backend.transcribe({ ...piece, audio: received.audio });
      },
    };
    expect(await chunker.transcribe(takingBackend, blocks(samples).source, options)).toEqual(
      await chunker.transcribe(measuringBackend().backend, blocks(samples).source, options),
    );
    expect(taken).toBe(4);

    const batching = measuringBackend(3);
    const takingBatches: AsrBackend = {
      ...batching.backend,
      transcribeBatch: (pieces) => {
        const received = pieces.map(receive);
        expect(received.every((item) => item.taken)).toBe(true);
        return batching.backend.transcribeBatch!(pieces.map((piece, index) => ({ ...piece, audio: received[index]!.audio })));
      },
    };
    expect(await chunker.transcribe(takingBatches, blocks(samples).source, options)).toEqual(
      await chunker.transcribe(measuringBackend(3).backend, blocks(samples).source, options),
    );
    expect(batching.batches.map((batch) => batch.length)).toEqual([3, 1]);
  });

  it('with a threshold of hours, still sends short and long unchunked sources whole (its window grows past its first size)', async () => {
    const chunker = new VadChunker(amplitudeDetector, { ...DEFAULT_LONG_AUDIO_OPTIONS, thresholdSeconds: 1e9 });
    for (const seconds of [3, 300]) {
      const samples = audio([1, false], [seconds - 2, true], [1, false]);
      const received: Float32Array[] = [];
      const { backend } = fakeBackend({
        transcribe: async (piece) => {
          received.push(receive(piece).audio);
          return { text: 'ok', language: 'en', segments: [], words: [] };
        },
      });
      expect(await chunker.transcribe(backend, blocks(samples, 1 << 16).source, request)).toMatchObject({ text: 'ok', duration: seconds });
      expect(received).toHaveLength(1);
      expect(received[0]!.length).toBe(samples.length);
      expect(received[0]).toEqual(samples);
    }
  });

  it("hands over a short source as one piece, never the caller's own array", async () => {
    const chunker = new VadChunker(amplitudeDetector, DEFAULT_LONG_AUDIO_OPTIONS);
    const samples = audio([2, false], [5, true], [3, false]);
    const before = samples.slice();
    const received: Float32Array[] = [];
    const { backend } = fakeBackend({
      transcribe: async (piece) => {
        const { audio: moved, taken } = receive(piece);
        expect(taken).toBe(true);
        received.push(moved);
        return { text: 'ok', language: 'en', segments: [], words: [] };
      },
    });
    const result = await chunker.transcribe(backend, samples, request);
    expect(result).toMatchObject({ text: 'ok', duration: 10 });
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual(before);
    // The caller's array is untouched: the piece was the chunker's own copy.
    expect(samples).toEqual(before);
  });
});
