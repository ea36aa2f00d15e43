/**
 * Differential test: our Parakeet TDT decoding against parakeet.js, both offline on the same
 * generated model files (encoder with external data) and the same audio. Token ids, frames,
 * durations, token times and the text must be identical; for audio long enough to be cut by
 * core's VAD chunker, each chunk must match parakeet.js run on that chunk.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSileroDetector, joinSamples, VadChunker, DEFAULT_LONG_AUDIO_OPTIONS, seededRandom, type AsrBackend, type TranscriptionResult } from '@talkies/core';
import { hasShared, readJfk, readWav, audioDirectory } from './support/shared-assets.js';
import { createBackend, generatedModels, parakeetJs, request, type ParakeetJsResult } from './support/nemo-fixtures.js';
import type { NemoBackend } from '../src/nemo-backend.js';
import { ParakeetModel } from '../src/parakeet-runtime.js';
import { nemoOptionsSchema } from '../src/engine-options.js';

const SLUG = 'parakeet-test-tiny-v3';

const concat = (...parts: Float32Array[]) => joinSamples(parts);
const silence = (seconds: number) => new Float32Array(Math.round(seconds * 16000));

function noise(seconds: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: Math.round(seconds * 16000) }, (_, index) => 0.2 * Math.sin(index / (3 + 20 * random())) + 0.05 * (random() * 2 - 1));
}

/** Our tokens, as parakeet.js reports them, from the segments' token ids and the words' times. */
function expectSame(ours: TranscriptionResult & { tokens?: unknown }, theirs: ParakeetJsResult, detail: { frames: number[]; durations: number[]; ids: number[]; times: Array<[number, number]> }): void {
  expect(detail.ids).toEqual(theirs.tokenIds);
  expect(detail.frames).toEqual(theirs.frameIndices);
  expect(detail.durations).toEqual(theirs.tdtSteps);
  expect(detail.times).toEqual(theirs.tokens.map((token) => [token.start_time, token.end_time]));
  expect(ours.text).toBe(theirs.utterance_text);
}

describe.skipIf(!hasShared('audio/jfk.wav', 'audio/stereo_diarization.wav'))('differential: Parakeet TDT against parakeet.js on the same generated model', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let backend: NemoBackend;
  let reference: Awaited<ReturnType<typeof parakeetJs>>;
  let runtime: ParakeetModel;

  beforeAll(async () => {
    models = await generatedModels([SLUG]);
    backend = createBackend(models.dataDir, SLUG);
    await backend.load();
    reference = await parakeetJs(join(models.dataDir, 'models', SLUG));
    runtime = await ParakeetModel.load(join(models.dataDir, 'models', SLUG), nemoOptionsSchema.parse({}));
  });

  afterAll(async () => {
    await backend?.dispose();
    await runtime?.release();
    await models?.remove();
  });

  /**
   * The backend's result (its model in a worker thread, the production path), and token-level
   * detail from a runtime on this thread, whose `timedTokens` is what `transcribe` builds on.
   */
  async function ours(audio: Float32Array) {
    const result = await backend.transcribe(request(audio, { timestamps: true }));
    const tokens = await runtime.timedTokens(audio);
    const detail = {
      ids: tokens.map((token) => token.id),
      frames: tokens.map((token) => token.frame),
      durations: tokens.map((token) => token.duration),
      times: tokens.map((token): [number, number] => [token.start, token.end]),
    };
    return { result, detail };
  }

  const clips: Record<string, () => Float32Array> = {
    'jfk.wav (11 s)': () => readJfk(),
    'stereo_diarization.wav left (5 s)': () => readWav(join(audioDirectory, 'stereo_diarization.wav')).channels[0]!,
    'jfk with 1.28 s of silence, a length whose frames are a multiple of 8': () => concat(readJfk().subarray(0, 16000 * 10), silence(1.28)),
    'synthetic tones and noise (3 s)': () => noise(3, 5),
  };

  for (const [name, clip] of Object.entries(clips)) {
    it(`${name}: identical token ids, frames, durations, times and text`, async () => {
      const audio = clip();
      const { result, detail } = await ours(audio);
      const theirs = await reference(audio);
      expect(detail.ids.length).toBeGreaterThan(5);
      expectSame(result, theirs, detail);
      // Words: same starts and ends as parakeet.js' words (its first word starts at 0 when the first token is no word start).
      const theirWords = theirs.words.filter((word) => word.text !== '');
      expect(result.words.map((word) => word.end)).toEqual(theirWords.map((word) => word.end_time));
      expect(result.words.slice(1).map((word) => word.start)).toEqual(theirWords.slice(1).map((word) => word.start_time));
    });
  }

  it('audio long enough for the VAD chunker: every chunk matches parakeet.js on that chunk', async () => {
    const jfk = readJfk();
    const long = concat(silence(0.5), jfk, silence(2), jfk, silence(2), jfk, silence(1));
    const chunker = new VadChunker(() => createSileroDetector(), DEFAULT_LONG_AUDIO_OPTIONS);
    const pieces: Float32Array[] = [];
    const recorder: AsrBackend = {
      ...backend,
      specificationVersion: 'v1',
      modality: 'asr',
      capabilities: backend.capabilities,
      load: () => backend.load(),
      dispose: async () => {},
      transcribe: async (chunkRequest) => {
        pieces.push(chunkRequest.audio.slice());
        return backend.transcribe(chunkRequest);
      },
      // Parakeet batches: the chunker may hand over several pieces at once.
      transcribeBatch: (chunkRequests) => {
        for (const chunkRequest of chunkRequests) pieces.push(chunkRequest.audio.slice());
        return backend.transcribeBatch!(chunkRequests);
      },
    };
    const stitched = await chunker.transcribe(recorder, long, { task: 'transcribe', timestamps: true, signal: new AbortController().signal });
    expect(pieces.length).toBeGreaterThan(1);
    const texts: string[] = [];
    for (const piece of pieces) {
      const { result, detail } = await ours(piece);
      expectSame(result, await reference(piece), detail);
      texts.push(result.text);
    }
    expect(stitched.text).toBe(texts.filter((text) => text !== '').join(' '));
    expect(stitched.duration).toBeCloseTo(long.length / 16000, 3);
    for (const segment of stitched.segments) expect(segment.end).toBeLessThanOrEqual(stitched.duration);
  });
});
