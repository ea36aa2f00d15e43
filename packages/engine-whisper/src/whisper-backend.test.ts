import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SpeechError } from '@talkies/core';
import { describeBackendConformance } from '@talkies/core/testing';
import { hasShared, readJfk } from '../test/support/shared-assets.js';
import { createBackend, generatedModels, request } from '../test/support/whisper-fixtures.js';
import { compressionRatio } from './whisper-transcriber.js';
import { WhisperSessions } from './whisper-sessions.js';
import { WhisperTokenizer, type TokenizerJson } from './whisper-tokenizer.js';
import type { WhisperBackend } from './whisper-backend.js';

const TINY = 'whisper-test-tiny';
let models: Awaited<ReturnType<typeof generatedModels>>;
beforeAll(async () => {
  models = await generatedModels([TINY]);
});
afterAll(async () => {
  await models?.remove();
});

/** Speech when ../shared is there, a chirp otherwise: the random model does not care. */
function speech(): Float32Array {
  if (hasShared('audio/jfk.wav')) return readJfk();
  return Float32Array.from({ length: 16000 * 6 }, (_, index) => 0.3 * Math.sin(0.00002 * index * index));
}

describeBackendConformance('whisper (generated tiny model)', {
  create: () => createBackend(models.dataDir, TINY),
  audio: () => speech().subarray(0, 16000 * 4),
});

describe('WhisperBackend', () => {
  let backend: WhisperBackend;
  const audio = speech();
  beforeAll(async () => {
    backend = createBackend(models.dataDir, TINY);
    await backend.load();
  });
  afterAll(async () => {
    await backend.dispose();
  });

  it('declares capabilities as data, refined from the files on load', () => {
    const unloaded = createBackend(models.dataDir, TINY);
    expect(unloaded.capabilities).toMatchObject({ wordTimestamps: false, translation: true, longForm: false, streaming: false, segmentTimestamps: true });
    expect(createBackend(models.dataDir, TINY, {}, 'onnx-community/whisper-base.en').capabilities).toMatchObject({ translation: false, languages: ['en'] });
    expect(createBackend(models.dataDir, TINY, {}, 'onnx-community/whisper-base_timestamped').capabilities.wordTimestamps).toBe(true);
    expect(backend.capabilities.languages).toHaveLength(99);
    // No cross-attention outputs in this export: no word timings, whatever the name says.
    expect(backend.capabilities.wordTimestamps).toBe(false);
  });

  it('detects the language when none is given and decodes with it', async () => {
    const detected = await backend.transcribe(request(audio, { timestamps: true }));
    expect(detected.language).toMatch(/^[a-z]{2,3}$/);
    const explicit = await backend.transcribe(request(audio, { timestamps: true, language: detected.language }));
    expect(explicit.text).toBe(detected.text);
    expect(explicit.segments.map((segment) => segment.tokens)).toEqual(detected.segments.map((segment) => segment.tokens));
  });

  it('reports real confidence fields: avg_logprob, compression_ratio, no_speech_prob, tokens, temperature', async () => {
    const result = await backend.transcribe(request(audio, { language: 'en', timestamps: true }));
    expect(result.segments.length).toBeGreaterThan(1);
    for (const segment of result.segments) {
      expect(segment.avg_logprob).toBeLessThan(0);
      expect(segment.no_speech_prob).toBeGreaterThanOrEqual(0);
      expect(segment.no_speech_prob).toBeLessThan(1);
      expect(segment.temperature).toBe(0);
      expect(segment.tokens![0]).toBeGreaterThanOrEqual(50364);
      expect(segment.tokens!.at(-1)).toBeGreaterThanOrEqual(50364);
    }
    // One window: its compression ratio is that of the window's whole text.
    expect(result.segments[0]!.compression_ratio).toBeCloseTo(compressionRatio(result.text), 10);
    expect(compressionRatio('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).toBeGreaterThan(2.4);
  });

  it('honours the prompt as previous-context tokens after <|startofprev|>', async () => {
    // On this thread, so that the spy sees the decoder calls.
    const here = createBackend(models.dataDir, TINY, { inferenceThread: 'main' });
    await here.load();
    const step = vi.spyOn(WhisperSessions.prototype, 'step');
    try {
      await here.transcribe(request(audio.subarray(0, 16000 * 3), { language: 'en', prompt: '  Hello world  ' }));
      const firstInput = step.mock.calls[0]![0];
      // <|startofprev|> " Hello world" <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
      const tokenizer = new WhisperTokenizer(JSON.parse(await readFile(join(models.dataDir, 'models', TINY, 'tokenizer.json'), 'utf8')) as TokenizerJson);
      const prompt = tokenizer.encode(' Hello world');
      expect(firstInput).toEqual([50361, ...prompt, 50258, 50259, 50359, 50363]);
      expect(tokenizer.decode(prompt)).toBe(' Hello world');
      // With Whisper's real vocabulary (../shared) the ids are the ones OpenAI's tokenizer gives.
      if (hasShared('whisper-assets/multilingual.tiktoken')) expect(prompt).toEqual([2425, 1002]);
    } finally {
      step.mockRestore();
      await here.dispose();
    }
  });

  it('samples at a temperature above zero, repeatably', async () => {
    const hot = createBackend(models.dataDir, TINY, { seed: 7 });
    await hot.load();
    const first = await hot.transcribe(request(audio, { language: 'en', temperature: 0.8 }));
    const second = await hot.transcribe(request(audio, { language: 'en', temperature: 0.8 }));
    await hot.dispose();
    expect(first.segments[0]!.temperature).toBe(0.8);
    expect(second.text).toBe(first.text);
    const greedy = await backend.transcribe(request(audio, { language: 'en' }));
    expect(first.text).not.toBe(greedy.text);
  });

  it('falls back to higher temperatures when a window fails the quality checks', async () => {
    const fallback = createBackend(models.dataDir, TINY, { temperatureFallback: true, noSpeechThreshold: 1 });
    await fallback.load();
    // Random weights: every decode is unlikely (avg_logprob < -1), so every temperature is tried.
    const result = await fallback.transcribe(request(audio.subarray(0, 16000 * 2), { language: 'en' }));
    await fallback.dispose();
    expect(result.segments[0]!.temperature).toBe(1);
  });

  it('beam search (engine option) decodes with several beams', async () => {
    const beams = createBackend(models.dataDir, TINY, { beamSize: 3, inferenceThread: 'main' });
    await beams.load();
    const step = vi.spyOn(WhisperSessions.prototype, 'step');
    try {
      const result = await beams.transcribe(request(audio, { language: 'en', timestamps: true }));
      expect(result.segments.length).toBeGreaterThan(0);
      expect(step.mock.calls.some((call) => call[1] === 3)).toBe(true);
      const again = await beams.transcribe(request(audio, { language: 'en', timestamps: true }));
      expect(again.text).toBe(result.text);
      const greedy = await backend.transcribe(request(audio, { language: 'en', timestamps: true }));
      const score = (value: typeof result) => value.segments[0]!.avg_logprob!;
      expect(score(result)).toBeGreaterThanOrEqual(score(greedy) - 1e-9);
    } finally {
      step.mockRestore();
      await beams.dispose();
    }
  });

  it('refuses an unknown language with a 400 that lists some, and takes language names', async () => {
    const error = (await backend.transcribe(request(audio, { language: 'klingon' })).catch((caught: unknown) => caught)) as SpeechError;
    expect(SpeechError.is(error)).toBe(true);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/language 'klingon'.*en, zh, de/);
    expect((await backend.transcribe(request(audio.subarray(0, 16000), { language: 'English' }))).language).toBe('en');
  });

  it('keeps segment times inside the 30 s window', async () => {
    const result = await backend.transcribe(request(audio, { language: 'en', timestamps: true }));
    for (const segment of result.segments) expect(segment.end).toBeLessThanOrEqual(30);
    expect(result.duration).toBeCloseTo(audio.length / 16000, 6);
  });

  it('takes long audio as consecutive windows when called without the chunker', async () => {
    const long = new Float32Array(16000 * 65);
    for (let offset = 0; offset + audio.length <= long.length; offset += audio.length + 16000) long.set(audio, offset);
    const result = await backend.transcribe(request(long, { language: 'en' }));
    expect(result.segments.map((segment) => segment.seek)).toEqual([0, 3000, 6000]);
    expect(result.segments.at(-1)!.end).toBeCloseTo(65, 6);
  });

  it('runs onnxruntime off the event loop: the main thread stays idle while a worker transcribes', async () => {
    const long = new Float32Array(16000 * 90);
    for (let offset = 0; offset + audio.length <= long.length; offset += audio.length + 16000) long.set(audio, offset);
    // Main-thread busy share (event-loop utilisation) during one transcription of 90 s.
    const busyShare = async (backendUnderTest: WhisperBackend) => {
      const before = performance.eventLoopUtilization();
      await backendUnderTest.transcribe(request(long, { language: 'en' }));
      return performance.eventLoopUtilization(before).utilization;
    };
    const here = createBackend(models.dataDir, TINY, { inferenceThread: 'main' });
    await here.load();
    try {
      const inWorker = await busyShare(backend);
      const onMain = await busyShare(here);
      // onnxruntime-node's session.run blocks the thread that calls it.
      expect(onMain).toBeGreaterThan(0.6);
      expect(inWorker).toBeLessThan(0.3);
    } finally {
      await here.dispose();
    }
  });

  it('an abort mid-way stops the transcription in the worker with ABORTED, and the model serves the next request', async () => {
    const long = new Float32Array(16000 * 240);
    for (let offset = 0; offset + audio.length <= long.length; offset += audio.length + 16000) long.set(audio, offset);
    const controller = new AbortController();
    const pending = backend.transcribe({ ...request(long, { language: 'en' }), signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = (await pending.catch((caught: unknown) => caught)) as SpeechError;
    expect(SpeechError.is(error)).toBe(true);
    expect(error.code).toBe('ABORTED');
    expect((await backend.transcribe(request(audio.subarray(0, 16000), { language: 'en' }))).segments).toHaveLength(1);
  });

  it('after dispose it refuses to transcribe until loaded again', async () => {
    const other = createBackend(models.dataDir, TINY);
    await other.load();
    await other.dispose();
    const error = (await other.transcribe(request(audio.subarray(0, 16000))).catch((caught: unknown) => caught)) as SpeechError;
    expect(error.code).toBe('MODEL_NOT_LOADED');
    await other.load();
    expect((await other.transcribe(request(audio.subarray(0, 16000), { language: 'en' }))).segments).toHaveLength(1);
    await other.dispose();
  });

  it('a missing model directory with downloads off is a 503 naming the slug, the repo and the folder', async () => {
    const missing = createBackend(models.dataDir, 'not-there', { download: false }, 'onnx-community/whisper-tiny');
    const error = (await missing.load().catch((caught: unknown) => caught)) as SpeechError;
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.status).toBe(503);
    expect(error.message).toContain("model 'not-there'");
    expect(error.message).toContain('onnx-community/whisper-tiny');
    expect(error.message).toContain('models/not-there');
  });
});

describe('precision variants', () => {
  it('runs the _fp16 files (float16 inputs and outputs) to the same tokens as fp32', async () => {
    const audio = speech().subarray(0, 16000 * 6);
    const full = createBackend(models.dataDir, TINY);
    const half = createBackend(models.dataDir, TINY, { precision: 'fp16' });
    await full.load();
    await half.load();
    try {
      const expected = await full.transcribe(request(audio, { language: 'en', timestamps: true }));
      const result = await half.transcribe(request(audio, { language: 'en', timestamps: true }));
      // float16 rounding of features and caches may flip a near-tie; the bulk must agree.
      const tokens = (value: typeof result) => value.segments.flatMap((segment) => segment.tokens ?? []);
      const same = tokens(result).filter((token, index) => token === tokens(expected)[index]).length;
      expect(same / tokens(expected).length).toBeGreaterThan(0.8);
      expect(result.segments.length).toBeGreaterThan(0);
    } finally {
      await full.dispose();
      await half.dispose();
    }
  });
});
