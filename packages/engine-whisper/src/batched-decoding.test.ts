/**
 * Batched decoding (transcribeBatch) gives every piece exactly what transcribing it alone
 * gives: token ids, text, language, segment times and confidence fields, word times.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { defaultInferenceThreads, VadChunker, type SpeechDetector, type TranscribeRequest, type TranscriptionResult } from '@talkies/core';
import { hasShared, readJfk } from '../test/support/shared-assets.js';
import { createBackend, generatedModels, request } from '../test/support/whisper-fixtures.js';
import type { WhisperBackend } from './whisper-backend.js';
import { hasDynamicBatch, WhisperSessions } from './whisper-sessions.js';

const TINY = 'whisper-test-tiny';
const STAMPED = 'whisper-test-tiny_timestamped';
const RATE = 16000;
let models: Awaited<ReturnType<typeof generatedModels>>;
beforeAll(async () => {
  models = await generatedModels([TINY, STAMPED]);
});
afterAll(async () => {
  await models?.remove();
});

/** Speech when ../shared is there, a chirp otherwise: the random model does not care. */
function speech(): Float32Array {
  if (hasShared('audio/jfk.wav')) return readJfk();
  return Float32Array.from({ length: RATE * 11 }, (_, index) => 0.3 * Math.sin(0.00002 * index * index));
}

/** `seconds` of audio: the speech repeated, with a half-second gap between copies. */
function piece(seconds: number, offset = 0): Float32Array {
  const source = speech();
  const out = new Float32Array(Math.round(seconds * RATE));
  for (let index = 0; index < out.length; index++) {
    const position = (index + offset * RATE) % (source.length + RATE / 2);
    out[index] = position < source.length ? source[position]! : 0;
  }
  return out;
}

/**
 * The model calls a batch makes, in order: `encode×n` for an encoder run over n windows,
 * `detect×n` for a language detection step over n rows, `decode×n` for a decoder loop whose
 * single-token steps start with n rows (its prompt steps, one window each, are not listed).
 */
async function modelCalls<T>(work: () => Promise<T>): Promise<{ value: T; calls: string[] }> {
  const events: Array<{ order: number; kind: 'encode' | 'detect' | 'prompt' | 'step'; size: number }> = [];
  const encode = vi.spyOn(WhisperSessions.prototype, 'encodeBatch');
  const step = vi.spyOn(WhisperSessions.prototype, 'step');
  try {
    const value = await work();
    encode.mock.calls.forEach((call, index) => events.push({ order: encode.mock.invocationCallOrder[index]!, kind: 'encode', size: call[0].length }));
    step.mock.calls.forEach((call, index) => {
      const kind = call[3] !== undefined ? 'step' : call[0].length === call[1] ? 'detect' : 'prompt';
      events.push({ order: step.mock.invocationCallOrder[index]!, kind, size: call[1] });
    });
    events.sort((a, b) => a.order - b.order);
    const calls: string[] = [];
    let afterPrompt = false;
    for (const event of events) {
      if (event.kind === 'prompt') afterPrompt = true;
      else if (event.kind === 'step') {
        if (afterPrompt) calls.push(`decode×${event.size}`);
        afterPrompt = false;
      } else calls.push(`${event.kind}×${event.size}`);
    }
    return { value, calls };
  } finally {
    encode.mockRestore();
    step.mockRestore();
  }
}

// The backends below run on this thread (`inferenceThread: 'main'`): the tests watch their
// session calls. The worker path is the same transcriber behind core's worker protocol
// (whisper-backend.test.ts and the conformance suite run it).

async function singles(backend: WhisperBackend, requests: TranscribeRequest[]): Promise<TranscriptionResult[]> {
  const results: TranscriptionResult[] = [];
  for (const item of requests) results.push(await backend.transcribe(item));
  return results;
}

describe('transcribeBatch on the generated tiny model', () => {
  let backend: WhisperBackend;
  beforeAll(async () => {
    backend = createBackend(models.dataDir, TINY, { inferenceThread: 'main', maxBatchSize: 4 });
    await backend.load();
  });
  afterAll(async () => {
    await backend.dispose();
  });

  it('declares its batch size, from the option or from the model size', async () => {
    expect(backend.capabilities.maxBatchSize).toBe(4);
    const automatic = createBackend(models.dataDir, TINY, { inferenceThread: 'main' });
    await automatic.load();
    // 2 layers × 2 heads × 32 × 1500 positions × 2 (keys, values) × 4 bytes per sequence: the cap of 8 applies.
    expect(automatic.capabilities.maxBatchSize).toBe(8);
    await automatic.dispose();
  });

  it('pieces of very different lengths, with and without timestamps: identical to one by one, in shared model calls', async () => {
    const requests = [
      request(piece(0.6), { language: 'en', timestamps: true }),
      request(piece(11), { language: 'en', timestamps: true }),
      request(piece(4, 2), { language: 'en' }),
      request(piece(27, 3), { language: 'en', timestamps: true }),
    ];
    const expected = await singles(backend, requests);
    const { value: batched, calls } = await modelCalls(() => Promise.all(backend.transcribeBatch(requests)));
    expect(batched).toEqual(expected);
    // Pieces ended at different steps (one ends early and leaves the batch).
    const lengths = expected.map((result) => result.segments.flatMap((segment) => segment.tokens ?? []).length);
    expect(new Set(lengths).size).toBeGreaterThan(1);
    // Shared encoder runs (3 windows of the tiny model per run) and batched decoder loops: the
    // timestamp pieces share a prompt length, the <|notimestamps|> piece has one more token
    // and decodes in its own group.
    expect(calls).toEqual(['encode×3', 'encode×1', 'decode×3', 'decode×1']);
  });

  it('frees every spent step’s logits and self-attention cache at once, and none of the cross-attention cache', async () => {
    const requests = [request(piece(0.6), { language: 'en' }), request(piece(11), { language: 'en' }), request(piece(4, 2), { language: 'en' })];
    const expected = await singles(backend, requests);
    const step = vi.spyOn(WhisperSessions.prototype, 'step');
    try {
      expect(await Promise.all(backend.transcribeBatch(requests))).toEqual(expected);
      const results = await Promise.all(step.mock.results.map((result) => result.value as ReturnType<WhisperSessions['step']>));
      const prompts = step.mock.calls.filter((call) => call[3] === undefined).length;
      expect(prompts).toBe(3);
      expect(results.length).toBeGreaterThan(prompts);
      for (const result of results) {
        expect(result.logits.byteLength).toBe(0);
        for (const [name, tensor] of result.cache) {
          const bytes = (tensor.data as Float32Array).byteLength;
          if (name.includes('.encoder.')) expect(bytes).toBe(result.batch * 1500 * tensor.dims[1]! * tensor.dims[3]! * 4);
          else expect(bytes).toBe(0);
        }
      }
    } finally {
      step.mockRestore();
    }
  });

  it('detects each piece’s language in one batched step when none is given', async () => {
    const requests = [request(piece(3)), request(piece(8, 1), { timestamps: true }), request(piece(5, 4))];
    const expected = await singles(backend, requests);
    const { value, calls } = await modelCalls(() => Promise.all(backend.transcribeBatch(requests)));
    expect(value).toEqual(expected);
    expect(calls.slice(0, 2)).toEqual(['encode×3', 'detect×3']);
  });

  it('keeps each piece’s own prompt, task and temperature', async () => {
    const requests = [
      request(piece(6), { language: 'en', prompt: 'Hello there' }),
      request(piece(6, 1), { language: 'de', task: 'translate' }),
      request(piece(6, 2), { language: 'en', temperature: 0.7 }),
      request(piece(6, 3), { language: 'en' }),
    ];
    const expected = await singles(backend, requests);
    expect(await Promise.all(backend.transcribeBatch(requests))).toEqual(expected);
  });

  it('splits a batch larger than the engine size', async () => {
    const requests = Array.from({ length: 6 }, (_, index) => request(piece(2 + index, index), { language: 'en' }));
    const expected = await singles(backend, requests);
    const { value, calls } = await modelCalls(() => Promise.all(backend.transcribeBatch(requests)));
    expect(value).toEqual(expected);
    // Four pieces at a time (the memory of one batch): the last two start as the first four end.
    expect(calls).toEqual(['encode×3', 'encode×1', 'decode×4', 'encode×2', 'decode×2']);
  });

  it('drops an aborted piece from the batch and finishes the others as alone', async () => {
    const controller = new AbortController();
    const requests = [
      request(piece(9), { language: 'en', timestamps: true }),
      request(piece(9, 1), { language: 'en', timestamps: true, signal: controller.signal }),
      request(piece(9, 2), { language: 'en', timestamps: true }),
    ];
    const expected = await singles(backend, [requests[0]!, requests[2]!]);
    const results = backend.transcribeBatch(requests);
    setImmediate(() => controller.abort());
    const outcomes = await Promise.allSettled(results);
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect([outcomes[0], outcomes[2]]).toEqual(expected.map((value) => ({ status: 'fulfilled', value })));
  });

  it("fails a piece with a bad request alone (its own 400), the others decode as alone", async () => {
    const requests = [request(piece(5), { language: 'en' }), request(piece(5, 1), { language: 'klingon' }), request(piece(3, 2), { language: 'en' })];
    const expected = await singles(backend, [requests[0]!, requests[2]!]);
    const outcomes = await Promise.allSettled(backend.transcribeBatch(requests));
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { code: 'INVALID_REQUEST', status: 400 } });
    expect([outcomes[0], outcomes[2]]).toEqual(expected.map((value) => ({ status: 'fulfilled', value })));
  });

  it('answers an empty batch with an empty array, and refuses before load', async () => {
    expect(backend.transcribeBatch([])).toEqual([]);
    const unloaded = createBackend(models.dataDir, TINY, { inferenceThread: 'main' });
    const [failure] = await Promise.allSettled(unloaded.transcribeBatch([request(piece(1))]));
    expect(failure).toMatchObject({ status: 'rejected', reason: { code: 'MODEL_NOT_LOADED' } });
  });
});

describe('transcribeBatch with temperature fallback and beam search', () => {
  it('redoes a piece at the next temperatures as it would alone', async () => {
    const fallback = createBackend(models.dataDir, TINY, { inferenceThread: 'main', temperatureFallback: true, noSpeechThreshold: 1, maxBatchSize: 3 });
    await fallback.load();
    try {
      const requests = [request(piece(2), { language: 'en' }), request(piece(1, 3), { language: 'en' })];
      const expected = await singles(fallback, requests);
      // Random weights: every decode is unlikely, so every temperature is tried.
      expect(expected.map((result) => result.segments[0]!.temperature)).toEqual([1, 1]);
      expect(await Promise.all(fallback.transcribeBatch(requests))).toEqual(expected);
    } finally {
      await fallback.dispose();
    }
  });

  it('beam search decodes each window alone, with the same results', async () => {
    const beams = createBackend(models.dataDir, TINY, { inferenceThread: 'main', beamSize: 3, maxBatchSize: 3 });
    await beams.load();
    try {
      const requests = [request(piece(3), { language: 'en', timestamps: true }), request(piece(7, 1), { language: 'en' })];
      const expected = await singles(beams, requests);
      const { value, calls } = await modelCalls(() => Promise.all(beams.transcribeBatch(requests)));
      expect(value).toEqual(expected);
      // Beam search decodes each window alone (its steps carry the beams, not other pieces).
      expect(calls).toEqual(['encode×2', 'decode×3', 'decode×3']);
    } finally {
      await beams.dispose();
    }
  });
});

describe('transcribeBatch with word timestamps (generated _timestamped model)', () => {
  it('aligns words per piece, over several seek windows, as alone', async () => {
    const stamped = createBackend(models.dataDir, STAMPED, { inferenceThread: 'main', maxBatchSize: 4 });
    await stamped.load();
    try {
      expect(stamped.capabilities.wordTimestamps).toBe(true);
      const requests = [
        request(piece(25), { language: 'en', timestamps: true }),
        request(piece(3, 1), { language: 'en', timestamps: true }),
        request(piece(45, 2), { language: 'en', timestamps: true }),
        request(piece(12, 3), { language: 'en', timestamps: true }),
      ];
      const expected = await singles(stamped, requests);
      // The model ends segments inside the window: the long pieces take several seek passes.
      expect(expected[0]!.segments.map((segment) => segment.seek).filter((seek, index, all) => all.indexOf(seek) === index).length).toBeGreaterThan(1);
      expect(expected.every((result) => result.words.length > 0)).toBe(true);
      const { value, calls } = await modelCalls(() => Promise.all(stamped.transcribeBatch(requests)));
      expect(value).toEqual(expected);
      expect(calls.slice(0, 2)).toEqual(['encode×3', 'encode×1']);
      expect(calls.filter((call) => call.startsWith('decode')).some((call) => call !== 'decode×1')).toBe(true);
    } finally {
      await stamped.dispose();
    }
  });
});

describe('onnxruntime threads', () => {
  it("are core's default (TALKIES_INFERENCE_THREADS, else one per physical core) unless the options name a count", async () => {
    const ort = await import('onnxruntime-node');
    const directory = join(models.dataDir, 'models', TINY, 'onnx');
    const asked: Array<number | undefined> = [];
    // The real runtime, watched: what each session was created with.
    const watched = {
      ...ort,
      InferenceSession: {
        create: (path: string, options: { intraOpNumThreads?: number }) => {
          asked.push(options.intraOpNumThreads);
          return ort.InferenceSession.create(path, options);
        },
      },
    } as unknown as typeof ort;
    // The suite sets TALKIES_INFERENCE_THREADS=1; a different count shows it is the one used.
    vi.stubEnv('TALKIES_INFERENCE_THREADS', '3');
    try {
      for (const threads of [undefined, 1]) {
        const sessions = await WhisperSessions.create(watched, join(directory, 'encoder_model.onnx'), join(directory, 'decoder_model_merged.onnx'), { executionProvider: 'cpu', threads });
        await sessions.release();
      }
    } finally {
      vi.unstubAllEnvs();
    }
    expect(defaultInferenceThreads({ TALKIES_INFERENCE_THREADS: '3' })).toBe(3);
    // Encoder and decoder as asked; the greedy picker always on the calling thread alone.
    expect(asked).toEqual([3, 3, 1, 1, 1, 1]);
  });
});

describe('the batch axis of the exports', () => {
  it('is dynamic in the generated files, checked on the loaded sessions', async () => {
    const ort = await import('onnxruntime-node');
    const directory = join(models.dataDir, 'models', TINY, 'onnx');
    const sessions = await WhisperSessions.create(ort, join(directory, 'encoder_model.onnx'), join(directory, 'decoder_model_merged.onnx'), { executionProvider: 'cpu' });
    try {
      expect(sessions.dynamicBatch).toBe(true);
    } finally {
      await sessions.release();
    }
  });

  it("is read from the inputs' first axis: optimum's symbolic batch_size batches, a fixed 1 does not", () => {
    // The dimension names of onnx-community's whisper exports (optimum).
    const encoder = [{ name: 'input_features', shape: ['batch_size', 80, 3000] }];
    const decoder = [
      { name: 'input_ids', shape: ['batch_size', 'decoder_sequence_length'] },
      { name: 'encoder_hidden_states', shape: ['batch_size', 'encoder_sequence_length / 2', 512] },
      { name: 'past_key_values.0.decoder.key', shape: ['batch_size', 8, 'past_decoder_sequence_length', 64] },
      { name: 'past_key_values.0.encoder.key', shape: ['batch_size', 8, 'encoder_sequence_length_out', 64] },
      { name: 'use_cache_branch', shape: [1] },
    ];
    expect(hasDynamicBatch(encoder, decoder)).toBe(true);
    expect(hasDynamicBatch(encoder, decoder.map((input) => (input.name === 'input_ids' ? { ...input, shape: [1, 'decoder_sequence_length'] } : input)))).toBe(false);
    expect(hasDynamicBatch([{ name: 'input_features', shape: [1, 80, 3000] }], decoder)).toBe(false);
    expect(hasDynamicBatch([{ name: 'input_features', shape: [-1, 80, 3000] }], decoder)).toBe(true);
  });
});

describe("core's VadChunker with a batching Whisper backend", () => {
  /** Speech where the audio is loud: the test audio is speech copies separated by silence. */
  const energyDetector: SpeechDetector = {
    createStream: () => ({
      process: (windows) => {
        const probabilities = new Float32Array(windows.length / 512);
        for (let window = 0; window < probabilities.length; window++) {
          let energy = 0;
          for (let index = window * 512; index < (window + 1) * 512; index++) energy += windows[index]! * windows[index]!;
          probabilities[window] = energy / 512 > 1e-4 ? 0.9 : 0.1;
        }
        return probabilities;
      },
    }),
  };

  it('sends a long recording in groups and stitches the same transcription as the sequential path', async () => {
    // Four speech regions of different lengths, 31 s of silence apart: four chunks.
    const regions = [piece(11), piece(4, 1), piece(20, 2), piece(7, 3)];
    const gap = 31 * RATE;
    const recording = new Float32Array(regions.reduce((sum, region) => sum + region.length + gap, 0));
    let offset = 0;
    for (const region of regions) {
      recording.set(region, offset);
      offset += region.length + gap;
    }
    const chunker = new VadChunker(energyDetector);
    const batching = createBackend(models.dataDir, STAMPED, { inferenceThread: 'main', maxBatchSize: 3 });
    const sequential = createBackend(models.dataDir, STAMPED, { inferenceThread: 'main', maxBatchSize: 1 });
    await batching.load();
    await sequential.load();
    try {
      const longRequest = { language: 'en', task: 'transcribe' as const, timestamps: true, signal: new AbortController().signal };
      const expected = await chunker.transcribe(sequential, recording, longRequest);
      const batchSizes: number[] = [];
      const transcribeBatch = batching.transcribeBatch.bind(batching);
      batching.transcribeBatch = (requests) => {
        batchSizes.push(requests.length);
        return transcribeBatch(requests);
      };
      const result = await chunker.transcribe(batching, recording, longRequest);
      expect(batchSizes).toEqual([3, 1]);
      expect(result).toEqual(expected);
      expect(result.segments.length).toBeGreaterThan(3);
      expect(result.words.length).toBeGreaterThan(0);
    } finally {
      await batching.dispose();
      await sequential.dispose();
    }
  });
});
