/**
 * Batched Parakeet TDT: `transcribeBatch` steps every piece still decoding in one
 * decoder-joint call, and each piece must come out exactly as `transcribe()` gives it alone
 * (text, segments with their tokens and times, words with times and confidences), for
 * pieces of very different lengths, an empty one, and one aborted half-way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, type TranscribeRequest, type TranscriptionResult } from '@talkies/core';
import { hasShared, readJfk } from './support/shared-assets.js';
import { createBackend, generatedModels, request } from './support/nemo-fixtures.js';
import type { NemoBackend } from '../src/nemo-backend.js';

const SLUG = 'parakeet-test-tiny-v3';

function noise(seconds: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: Math.round(seconds * 16000) }, (_, index) => 0.2 * Math.sin(index / (3 + 20 * random())) + 0.05 * (random() * 2 - 1));
}

describe.skipIf(!hasShared('audio/jfk.wav'))('Parakeet TDT: batched decoding equals one piece at a time', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let backend: NemoBackend;
  let pieces: Float32Array[];

  beforeAll(async () => {
    models = await generatedModels([SLUG]);
    backend = createBackend(models.dataDir, SLUG);
    await backend.load();
    const jfk = readJfk();
    // Very different lengths: all of jfk (11 s), its first 1.2 s, a middle stretch, noise,
    // and an empty piece; the short ones leave the batch long before the long one ends.
    pieces = [jfk, jfk.subarray(0, 19_200), jfk.subarray(40_000, 120_000), noise(4.3, 7), new Float32Array(0)];
  }, 60_000);

  afterAll(async () => {
    await backend?.dispose();
    await models?.remove();
  });

  const ask = (audio: Float32Array, extra: Partial<TranscribeRequest> = {}) => request(audio, { timestamps: true, ...extra });

  it('declares batching, and gives every piece the result it gets alone (tokens, text, segment and word times)', async () => {
    expect(backend.capabilities.maxBatchSize).toBeGreaterThan(1);
    const alone: TranscriptionResult[] = [];
    for (const audio of pieces) alone.push(await backend.transcribe(ask(audio)));
    const batched = await Promise.all(backend.transcribeBatch!(pieces.map((audio) => ask(audio))));
    expect(batched).toEqual(alone);
    expect(alone[0]!.text.length).toBeGreaterThan(0);
    expect(alone[0]!.words!.length).toBeGreaterThan(alone[1]!.words!.length);
    expect(alone[4]!.text).toBe('');
    // Without timestamps too.
    const plain = await Promise.all(backend.transcribeBatch!(pieces.slice(0, 3).map((audio) => request(audio))));
    expect(plain).toEqual([await backend.transcribe(request(pieces[0]!)), await backend.transcribe(request(pieces[1]!)), await backend.transcribe(request(pieces[2]!))]);
  });

  it('lets a piece aborted half-way leave the batch; the others are unchanged', async () => {
    const alone = [await backend.transcribe(ask(pieces[1]!)), await backend.transcribe(ask(pieces[2]!))];
    const controller = new AbortController();
    const results = backend.transcribeBatch!([ask(pieces[0]!, { signal: controller.signal }), ask(pieces[1]!), ask(pieces[2]!)]);
    // The long piece is aborted once the shortest one is done: it is still decoding then.
    void results[1]!.then(() => controller.abort());
    const outcomes = await Promise.allSettled(results);
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(outcomes[1]).toEqual({ status: 'fulfilled', value: alone[0] });
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: alone[1] });
  });

  it('refuses a request that fails its own checks alone', async () => {
    const results = backend.transcribeBatch!([ask(pieces[1]!, { language: 'xx' }), ask(pieces[1]!)]);
    const outcomes = await Promise.allSettled(results);
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'INVALID_REQUEST' } });
    expect(outcomes[1]).toEqual({ status: 'fulfilled', value: await backend.transcribe(ask(pieces[1]!)) });
  });
});
