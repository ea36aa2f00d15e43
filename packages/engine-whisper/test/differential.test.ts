/**
 * Differential test: our engine against @huggingface/transformers' ASR pipeline, both
 * offline on the same generated model files and the same audio. Every token id, the text,
 * the segment times and (on the `_timestamped` model) the word times must agree.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinSamples, type TranscriptionResult } from '@talkies/core';
import { audioDirectory, hasShared, readJfk, readWav } from './support/shared-assets.js';
import { createBackend, generatedModels, referencePipeline, request, type ReferenceRun } from './support/whisper-fixtures.js';
import type { WhisperBackend } from '../src/whisper-backend.js';

const TIMESTAMP_BEGIN = 50364;
const SAMPLE_RATE = 16000;

const concat = (...parts: Float32Array[]) => joinSamples(parts);
const silence = (seconds: number) => new Float32Array(Math.round(seconds * SAMPLE_RATE));

/** Our generated tokens as transformers.js reports them: timestamps shifted by the window's seek. */
function ourSequence(result: TranscriptionResult, timestampBegin: number): number[] {
  return result.segments.flatMap((segment) =>
    (segment.tokens ?? []).map((token) => (token >= timestampBegin ? Math.min(token + (segment.seek ?? 0) / 2, timestampBegin + 1500) : token)),
  );
}

/** transformers.js' generated tokens: prompt and final end-of-text removed. */
function referenceSequence(run: ReferenceRun, promptLength: number, endOfText = 50257): number[] {
  expect(run.sequences).toHaveLength(1);
  const sequence = run.sequences[0]!.slice(promptLength);
  return sequence.at(-1) === endOfText ? sequence.slice(0, -1) : sequence;
}

function expectSameSegments(ours: TranscriptionResult, reference: ReferenceRun): void {
  const chunks = reference.output.chunks ?? [];
  expect(ours.segments.map((segment) => segment.text)).toEqual(chunks.map((chunk) => chunk.text));
  expect(ours.segments).toHaveLength(chunks.length);
  chunks.forEach((chunk, index) => {
    const segment = ours.segments[index]!;
    expect(segment.start).toBeCloseTo(chunk.timestamp[0], 6);
    // transformers.js leaves the end open when a window ends without a timestamp.
    if (chunk.timestamp[1] !== null) expect(segment.end).toBeCloseTo(chunk.timestamp[1], 6);
  });
}

describe.skipIf(!hasShared('audio/jfk.wav', 'audio/stereo_diarization.wav', 'whisper-assets/multilingual.tiktoken'))(
  'differential: our engine vs transformers.js on the same generated model',
  () => {
    let models: Awaited<ReturnType<typeof generatedModels>>;
    const backends = new Map<string, WhisperBackend>();
    const pipelines = new Map<string, Awaited<ReturnType<typeof referencePipeline>>>();
    const jfk = hasShared('audio/jfk.wav') ? readJfk() : new Float32Array(0);
    const stereo = hasShared('audio/stereo_diarization.wav') ? readWav(join(audioDirectory, 'stereo_diarization.wav')).channels : [];
    const clips: Record<string, Float32Array> = {
      'jfk.wav (11 s)': jfk,
      'stereo_diarization.wav left (5 s)': stereo[0] ?? new Float32Array(0),
      'stereo_diarization.wav right (5 s)': stereo[1] ?? new Float32Array(0),
      'jfk + 1 s silence + both diarization speakers (22 s)': concat(jfk, silence(1), stereo[0] ?? silence(0), stereo[1] ?? silence(0)),
      'jfk twice with pauses (29.5 s)': concat(silence(0.5), jfk, silence(3), jfk, silence(4)),
    };

    async function both(slug: string) {
      if (!backends.has(slug)) {
        const backend = createBackend(models.dataDir, slug);
        await backend.load();
        backends.set(slug, backend);
        pipelines.set(slug, await referencePipeline(join(models.dataDir, 'models', slug)));
      }
      return { ours: backends.get(slug)!, theirs: pipelines.get(slug)! };
    }

    beforeAll(async () => {
      models = await generatedModels(['whisper-test-tiny', 'whisper-test-tiny_timestamped', 'whisper-test-tiny-v3']);
    });
    afterAll(async () => {
      for (const backend of backends.values()) await backend.dispose();
      await models?.remove();
    });

    for (const [name, clip] of Object.entries(clips)) {
      it(`${name}: same token ids and text without timestamps`, async () => {
        const { ours, theirs } = await both('whisper-test-tiny');
        const reference = await theirs(clip, { language: 'en' });
        const result = await ours.transcribe(request(clip, { language: 'en' }));
        expect(ourSequence(result, TIMESTAMP_BEGIN)).toEqual(referenceSequence(reference, 4));
        expect(result.text).toBe(reference.output.text);
      });

      it(`${name}: same token ids, text and segment times with timestamps`, async () => {
        const { ours, theirs } = await both('whisper-test-tiny');
        const reference = await theirs(clip, { language: 'en', return_timestamps: true });
        const result = await ours.transcribe(request(clip, { language: 'en', timestamps: true }));
        expect(ourSequence(result, TIMESTAMP_BEGIN)).toEqual(referenceSequence(reference, 3));
        expect(result.text).toBe(reference.output.text);
        expectSameSegments(result, reference);
      });
    }

    it('translate task and another language agree too', async () => {
      const { ours, theirs } = await both('whisper-test-tiny');
      const reference = await theirs(jfk, { language: 'de', task: 'translate', return_timestamps: true });
      const result = await ours.transcribe(request(jfk, { language: 'de', task: 'translate', timestamps: true }));
      expect(reference.sequences[0]!.slice(0, 3)).toEqual([50258, 50261, 50358]);
      expect(ourSequence(result, TIMESTAMP_BEGIN)).toEqual(referenceSequence(reference, 3));
      expectSameSegments(result, reference);
    });

    it('large-v3 layout (128 mel bins, 100 languages): same ids with and without timestamps', async () => {
      const { ours, theirs } = await both('whisper-test-tiny-v3');
      const plain = await theirs(jfk, { language: 'en' });
      expect(plain.sequences[0]!.slice(0, 4)).toEqual([50258, 50259, 50360, 50364]);
      const ourPlain = await ours.transcribe(request(jfk, { language: 'en' }));
      expect(ourSequence(ourPlain, 50365)).toEqual(referenceSequence(plain, 4));
      expect(ourPlain.text).toBe(plain.output.text);
      const timed = await theirs(jfk, { language: 'en', return_timestamps: true });
      const ourTimed = await ours.transcribe(request(jfk, { language: 'en', timestamps: true }));
      expect(ourSequence(ourTimed, 50365)).toEqual(referenceSequence(timed, 3));
      expectSameSegments(ourTimed, timed);
    });

    it('_timestamped model: several seek passes, same ids, segments and word times', async () => {
      const { ours, theirs } = await both('whisper-test-tiny_timestamped');
      const reference = await theirs(jfk, { language: 'en', return_timestamps: 'word' });
      const result = await ours.transcribe(request(jfk, { language: 'en', timestamps: true }));
      expect(new Set(result.segments.map((segment) => segment.seek)).size).toBeGreaterThan(2);
      expect(ourSequence(result, TIMESTAMP_BEGIN)).toEqual(referenceSequence(reference, 3));
      expect(result.text).toBe(reference.output.text);
      const words = (reference.output.chunks ?? []) as Array<{ text: string; timestamp: [number, number] }>;
      expect(result.words.map((word) => word.word)).toEqual(words.map((word) => word.text.trim()));
      words.forEach((word, index) => {
        expect(result.words[index]!.start).toBeCloseTo(word.timestamp[0], 6);
        expect(result.words[index]!.end).toBeCloseTo(word.timestamp[1], 6);
      });
    });

    it('90 s of speech: core\'s VAD chunker cuts it, and every chunk agrees (ids, text, segments)', async () => {
      const { ours, theirs } = await both('whisper-test-tiny');
      const long = concat(
        jfk, silence(1.5), stereo[0]!, silence(2), jfk, silence(1), stereo[1]!, silence(2.5), jfk,
        silence(1.5), stereo[0]!, stereo[1]!, silence(2), jfk, silence(1), jfk, silence(2), stereo[1]!, silence(1),
      );
      expect(long.length / SAMPLE_RATE).toBeGreaterThan(89);
      const core = (await import('@talkies/core')) as Record<string, unknown>;
      const chunks: Array<{ start: number; audio: Float32Array }> = [];
      type Chunker = { chunks(audio: Float32Array): AsyncGenerator<{ start: number; audio: Float32Array }> };
      const VadChunker = core.VadChunker as (new (detector: () => Promise<unknown>) => Chunker) | undefined;
      const createSileroDetector = core.createSileroDetector as (() => Promise<unknown>) | undefined;
      if (VadChunker && createSileroDetector) {
        for await (const chunk of new VadChunker(() => createSileroDetector()).chunks(long)) chunks.push({ start: chunk.start, audio: chunk.audio.slice() });
      } else {
        console.warn('core has no VadChunker: cutting the 90 s at the silences it was built with');
        for (let start = 0; start < long.length; start += 25 * SAMPLE_RATE) chunks.push({ start, audio: long.slice(start, start + 25 * SAMPLE_RATE) });
      }
      expect(chunks.length).toBeGreaterThanOrEqual(4);
      for (const chunk of chunks) {
        expect(chunk.audio.length).toBeLessThanOrEqual(30 * SAMPLE_RATE);
        const reference = await theirs(chunk.audio, { language: 'en', return_timestamps: true });
        const result = await ours.transcribe(request(chunk.audio, { language: 'en', timestamps: true }));
        expect(ourSequence(result, TIMESTAMP_BEGIN)).toEqual(referenceSequence(reference, 3));
        expect(result.text).toBe(reference.output.text);
        expectSameSegments(result, reference);
      }
      // And the whole path as the server runs it: chunker → this backend → stitched result.
      if (VadChunker && createSileroDetector) {
        const chunker = new VadChunker(() => createSileroDetector()) as unknown as {
          transcribe(backend: unknown, audio: Float32Array, request: Record<string, unknown>): Promise<TranscriptionResult>;
        };
        const stitched = await chunker.transcribe(ours, long, { language: 'en', task: 'transcribe', timestamps: true, signal: new AbortController().signal });
        expect(stitched.segments.at(-1)!.end).toBeGreaterThan(60);
      }
    });
  },
);
