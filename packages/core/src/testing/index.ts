/**
 * The conformance suite every engine runs: `describeBackendConformance(...)` from
 * `@talkies/core/testing`. It checks the parts of the Backend contract the server relies
 * on. Import it from a vitest test file only (it imports vitest).
 */
import { describe, expect, it } from 'vitest';
import type { AsrBackend, Backend, TranscribeRequest, TtsBackend } from '../backend.js';
import type { TranscriptionResult } from '../transcription-result.js';
import { SpeechError } from '../speech-error.js';

export interface ConformanceOptions {
  /** A fresh, unloaded backend. */
  create(): Backend | Promise<Backend>;
  /** ASR: 16 kHz mono audio with speech (or whatever the test model accepts). */
  audio?(): Float32Array | Promise<Float32Array>;
  /** TTS: text to speak (default "Hello world."). */
  text?: string;
  /** TTS: text for synthesizeStream, two sentences or more (default: two short sentences). */
  streamText?: string;
}

/** One named check of the suite; `run` rejects (an assertion error) when the backend fails it. */
export interface ConformanceCheck {
  name: string;
  run(): Promise<void>;
}

/**
 * The suite's checks, to run outside `describe` (core runs them against deliberately
 * broken backends to show that each one catches what it is meant to).
 */
export function backendConformanceChecks(options: ConformanceOptions): ConformanceCheck[] {
  return [
    {
      name: 'declares the contract version, modality and capabilities as data',
      async run() {
        const backend = await options.create();
        expect(backend.specificationVersion).toBe('v1');
        expect(['asr', 'tts']).toContain(backend.modality);
        expect(typeof backend.capabilities.streaming).toBe('boolean');
        const languages = backend.capabilities.languages;
        expect(languages === 'any' || Array.isArray(languages)).toBe(true);
        if (backend.modality === 'asr') {
          expect(typeof backend.capabilities.wordTimestamps).toBe('boolean');
          expect(typeof backend.capabilities.translation).toBe('boolean');
          expect(typeof backend.capabilities.longForm).toBe('boolean');
        } else {
          expect(typeof backend.capabilities.instructions).toBe('boolean');
        }
      },
    },
    {
      name: 'answers metadata and voices before load()',
      async run() {
        const backend = await options.create();
        // The server lists voices and validates requests without loading a model first.
        expect(backend.modality).toBeDefined();
        expect(backend.capabilities).toBeDefined();
        if (backend.modality !== 'tts') return;
        const voices = await backend.voices();
        expect(voices.length).toBeGreaterThan(0);
        for (const voice of voices) expect(typeof voice.id).toBe('string');
        expect(voices.map((voice) => voice.id)).toContain(backend.defaultVoice);
        if (backend.validateVoice) {
          await backend.validateVoice(backend.defaultVoice);
          expectBadRequest(await rejection(backend.validateVoice('no-such-voice-xyz')), 'validateVoice of an unknown voice');
        }
      },
    },
    {
      name: 'loads, disposes and loads again',
      async run() {
        const backend = await options.create();
        await backend.load();
        await backend.dispose();
        await backend.load();
        await backend.dispose();
      },
    },
    {
      name: 'streams a session when it offers one: feed, finalize, close (twice), and abandon',
      async run() {
        const backend = await options.create();
        if (backend.modality !== 'asr' || !backend.openStream) return;
        await backend.load();
        try {
          if (backend.capabilities.streaming) await checkStream(backend, options);
        } finally {
          await backend.dispose();
        }
      },
    },
    {
      name: 'does its job after load and rejects an aborted request with ABORTED',
      async run() {
        const backend = await options.create();
        await backend.load();
        try {
          if (backend.modality === 'asr') await checkAsr(backend, options);
          else await checkTts(backend, options);
        } finally {
          await backend.dispose();
        }
      },
    },
    {
      name: 'transcribes a batch as it transcribes each piece alone, when it declares batching',
      async run() {
        const backend = await options.create();
        if (backend.modality !== 'asr') return;
        checkBatchDeclaration(backend);
        if (!backend.transcribeBatch) return;
        await backend.load();
        try {
          checkBatchDeclaration(backend);
          await checkBatch(backend, options);
        } finally {
          await backend.dispose();
        }
      },
    },
    {
      name: 'streams speech when it offers synthesizeStream, and stops on abort',
      async run() {
        const backend = await options.create();
        if (backend.modality !== 'tts' || !backend.synthesizeStream) return;
        await backend.load();
        try {
          await checkSpeechStream(backend, options);
        } finally {
          await backend.dispose();
        }
      },
    },
  ];
}

export function describeBackendConformance(name: string, options: ConformanceOptions): void {
  describe(`Backend contract v1: ${name}`, () => {
    for (const check of backendConformanceChecks(options)) it(check.name, () => check.run());
  });
}

/** The rejection of a promise, or a failed expectation when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('expected the call to reject, but it resolved');
}

function expectAborted(error: unknown, what: string): void {
  expect(SpeechError.is(error) ? error.code : error, `${what} must reject with a SpeechError of code ABORTED`).toBe('ABORTED');
}

function expectBadRequest(error: unknown, what: string): void {
  expect(SpeechError.is(error) ? error.status : error, `${what} must reject with a 400 SpeechError`).toBe(400);
}

async function checkAsr(backend: AsrBackend, options: ConformanceOptions): Promise<void> {
  if (!options.audio) throw new Error('describeBackendConformance: ASR backends need options.audio');
  const audio = await options.audio();
  const result = await backend.transcribe({
    audio,
    sampleRate: 16000,
    task: 'transcribe',
    timestamps: true,
    signal: new AbortController().signal,
  });
  expect(typeof result.text).toBe('string');
  expect(Array.isArray(result.segments)).toBe(true);
  expect(Array.isArray(result.words)).toBe(true);
  for (const segment of result.segments) {
    expect(segment.start).toBeGreaterThanOrEqual(0);
    expect(segment.end).toBeGreaterThanOrEqual(segment.start);
  }
  for (const word of result.words) expect(word.end).toBeGreaterThanOrEqual(word.start);
  const aborted = AbortSignal.abort();
  expectAborted(
    await rejection(backend.transcribe({ audio, sampleRate: 16000, task: 'transcribe', timestamps: false, signal: aborted })),
    'transcribe() with an aborted signal',
  );
}

/** `capabilities.maxBatchSize` is present exactly when `transcribeBatch` is, and an integer ≥ 1. */
function checkBatchDeclaration(backend: AsrBackend): void {
  const size = backend.capabilities.maxBatchSize;
  expect(size !== undefined, 'capabilities.maxBatchSize must be set exactly when transcribeBatch() exists').toBe(backend.transcribeBatch !== undefined);
  if (size !== undefined) {
    expect(Number.isInteger(size), 'capabilities.maxBatchSize must be an integer').toBe(true);
    expect(size).toBeGreaterThanOrEqual(1);
  }
}

/** What must not change between a single and a batched transcription (deterministic decoding). */
function comparable(result: TranscriptionResult): unknown {
  return {
    text: result.text,
    language: result.language,
    segments: result.segments.map((segment) => ({ id: segment.id, start: segment.start, end: segment.end, text: segment.text, tokens: segment.tokens })),
    words: result.words,
  };
}

/**
 * Pieces of very different lengths and settings in one batch, more than the engine's size:
 * each result equals the piece's own `transcribe()`; an aborted piece rejects with ABORTED
 * and leaves the others' results alone; an empty batch is an empty array.
 */
async function checkBatch(backend: AsrBackend, options: ConformanceOptions): Promise<void> {
  if (!options.audio) throw new Error('describeBackendConformance: ASR backends need options.audio');
  const audio = await options.audio();
  const quarter = Math.max(1, Math.floor(audio.length / 4));
  const pieces = [audio, audio.slice(0, quarter), audio.slice(quarter), audio.slice(0, 3 * quarter)];
  const requests: TranscribeRequest[] = pieces.map((piece, index) => ({
    audio: piece,
    sampleRate: 16000,
    task: 'transcribe',
    timestamps: index % 2 === 0,
    temperature: 0,
    signal: new AbortController().signal,
  }));
  while (requests.length <= (backend.capabilities.maxBatchSize ?? 1) && requests.length < 8) requests.push({ ...requests[requests.length % 4]! });
  expect(backend.transcribeBatch!([])).toEqual([]);
  const singles: TranscriptionResult[] = [];
  for (const request of requests) singles.push(await backend.transcribe(request));
  const batched = backend.transcribeBatch!(requests);
  expect(batched).toHaveLength(requests.length);
  const results = await Promise.all(batched);
  results.forEach((result, index) => expect(comparable(result), `transcribeBatch() result ${index}`).toEqual(comparable(singles[index]!)));
  // One aborted piece in the middle: it alone rejects.
  const withAbort = requests.slice(0, 3).map((request, index) => (index === 1 ? { ...request, signal: AbortSignal.abort() } : request));
  const outcomes = await Promise.allSettled(backend.transcribeBatch!(withAbort));
  expect(outcomes[0]!.status).toBe('fulfilled');
  expect(outcomes[2]!.status).toBe('fulfilled');
  expect(comparable((outcomes[0] as PromiseFulfilledResult<TranscriptionResult>).value)).toEqual(comparable(singles[0]!));
  expect(comparable((outcomes[2] as PromiseFulfilledResult<TranscriptionResult>).value)).toEqual(comparable(singles[2]!));
  expect(outcomes[1]!.status).toBe('rejected');
  expectAborted((outcomes[1] as PromiseRejectedResult).reason, 'transcribeBatch() with one aborted request');
}

async function checkStream(backend: AsrBackend, options: ConformanceOptions): Promise<void> {
  if (!options.audio) throw new Error('describeBackendConformance: ASR backends need options.audio');
  const audio = await options.audio();
  const session = await backend.openStream!({ sampleRate: 16000, signal: new AbortController().signal });
  let transcript = '';
  const half = Math.floor(audio.length / 2);
  for (const block of [audio.subarray(0, half), audio.subarray(half)]) {
    const update = await session.feed(block);
    expect(typeof update.text).toBe('string');
    expect(Array.isArray(update.words)).toBe(true);
    expect(Array.isArray(update.events)).toBe(true);
    transcript += update.text;
  }
  transcript += (await session.finalize()).text;
  expect(typeof transcript).toBe('string');
  await rejection(session.feed(audio));
  await session.close();
  await session.close();
  // Abandoned half-way: closing without finalize releases it, and later calls reject.
  const controller = new AbortController();
  const abandoned = await backend.openStream!({ sampleRate: 16000, signal: controller.signal });
  await abandoned.feed(audio.subarray(0, half));
  controller.abort();
  await abandoned.close();
  expectAborted(await rejection(abandoned.feed(audio.subarray(half))), 'feed() after close()');
}

async function checkTts(backend: TtsBackend, options: ConformanceOptions): Promise<void> {
  const voices = await backend.voices();
  expect(voices.length).toBeGreaterThan(0);
  expect(voices.map((voice) => voice.id)).toContain(backend.defaultVoice);
  const text = options.text ?? 'Hello world.';
  const result = await backend.synthesize({
    text,
    voice: backend.defaultVoice,
    speed: 1,
    signal: new AbortController().signal,
  });
  expect(result.sampleRate).toBeGreaterThan(0);
  expect(result.samples.length).toBeGreaterThan(result.sampleRate / 10);
  expectBadRequest(
    await rejection(backend.synthesize({ text, voice: 'no-such-voice-xyz', speed: 1, signal: new AbortController().signal })),
    'synthesize() with an unknown voice',
  );
  expectAborted(
    await rejection(backend.synthesize({ text, voice: backend.defaultVoice, speed: 1, signal: AbortSignal.abort() })),
    'synthesize() with an aborted signal',
  );
}

async function checkSpeechStream(backend: TtsBackend, options: ConformanceOptions): Promise<void> {
  const text = options.streamText ?? 'Hello world. This is the second sentence.';
  let samples = 0;
  let blocks = 0;
  for await (const block of backend.synthesizeStream!({ text, voice: backend.defaultVoice, speed: 1, signal: new AbortController().signal })) {
    expect(block.sampleRate).toBeGreaterThan(0);
    expect(block.samples).toBeInstanceOf(Float32Array);
    samples += block.samples.length;
    blocks += 1;
  }
  expect(blocks).toBeGreaterThan(0);
  expect(samples).toBeGreaterThan(0);
  // A consumer that stops early (a client that went away) ends the stream cleanly.
  const controller = new AbortController();
  const iterator = backend.synthesizeStream!({ text, voice: backend.defaultVoice, speed: 1, signal: controller.signal })[Symbol.asyncIterator]();
  const first = await iterator.next();
  expect(first.done).toBe(false);
  controller.abort();
  // After the abort at most the block already in flight may arrive; then the stream ends,
  // quietly or with ABORTED.
  let late = 0;
  try {
    for (let result = await iterator.next(); !result.done; result = await iterator.next()) late += 1;
  } catch (error) {
    expectAborted(error, 'synthesizeStream() after its signal aborted');
  }
  expect(late, 'blocks synthesizeStream() yielded after its signal aborted').toBeLessThanOrEqual(1);
  expectBadRequest(
    await rejection(
      (async () => {
        for await (const _block of backend.synthesizeStream!({ text, voice: 'no-such-voice-xyz', speed: 1, signal: new AbortController().signal }));
      })(),
    ),
    'synthesizeStream() with an unknown voice',
  );
}
