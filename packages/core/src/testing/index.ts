/**
 * The conformance suite every engine runs: `describeBackendConformance(...)` from
 * `@talkies/core/testing`. It checks the parts of the Backend contract the server relies
 * on. Import it from a vitest test file only (it imports vitest).
 */
import { describe, expect, it } from 'vitest';
import type { AsrBackend, Backend, TtsBackend } from '../backend.js';
import { SpeechError } from '../speech-error.js';

export interface ConformanceOptions {
  /** A fresh, unloaded backend. */
  create(): Backend | Promise<Backend>;
  /** ASR: 16 kHz mono audio with speech (or whatever the test model accepts). */
  audio?(): Float32Array | Promise<Float32Array>;
  /** TTS: text to speak (default "Hello world."). */
  text?: string;
}

export function describeBackendConformance(name: string, options: ConformanceOptions): void {
  describe(`Backend contract v1: ${name}`, () => {
    it('declares the contract version, modality and capabilities as data', async () => {
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
      }
    });

    it('loads, disposes and loads again', async () => {
      const backend = await options.create();
      await backend.load();
      await backend.dispose();
      await backend.load();
      await backend.dispose();
    });

    it('streams a session when it offers one: feed, finalize, close (twice), and abandon', async () => {
      const backend = await options.create();
      if (backend.modality !== 'asr' || !backend.openStream) return;
      await backend.load();
      try {
        if (backend.capabilities.streaming) await checkStream(backend, options);
      } finally {
        await backend.dispose();
      }
    });

    it('does its job after load and honours an aborted signal', async () => {
      const backend = await options.create();
      await backend.load();
      try {
        if (backend.modality === 'asr') await checkAsr(backend, options);
        else await checkTts(backend, options);
      } finally {
        await backend.dispose();
      }
    });
  });
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
  await expect(
    backend.transcribe({ audio, sampleRate: 16000, task: 'transcribe', timestamps: false, signal: aborted }),
  ).rejects.toBeTruthy();
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
  await expect(session.feed(audio)).rejects.toBeTruthy();
  await session.close();
  await session.close();
  // Abandoned half-way: closing without finalize releases it, and later calls reject.
  const controller = new AbortController();
  const abandoned = await backend.openStream!({ sampleRate: 16000, signal: controller.signal });
  await abandoned.feed(audio.subarray(0, half));
  controller.abort();
  await abandoned.close();
  await expect(abandoned.feed(audio.subarray(half))).rejects.toBeTruthy();
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
  let unknownVoice: unknown;
  try {
    await backend.synthesize({ text, voice: 'no-such-voice-xyz', speed: 1, signal: new AbortController().signal });
  } catch (error) {
    unknownVoice = error;
  }
  expect(SpeechError.is(unknownVoice) && unknownVoice.status === 400).toBe(true);
  await expect(
    backend.synthesize({ text, voice: backend.defaultVoice, speed: 1, signal: AbortSignal.abort() }),
  ).rejects.toBeTruthy();
}
