import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackendConformance } from '@talkies/core/testing';
import { SpeechError } from '@talkies/core';
import { hasShared, readJfk } from '../test/support/shared-assets.js';
import { createBackend, generatedModels, request } from '../test/support/nemo-fixtures.js';
import type { NemoBackend } from './nemo-backend.js';

const PARAKEET = 'parakeet-test-tiny-v3';
let models: Awaited<ReturnType<typeof generatedModels>>;
beforeAll(async () => {
  models = await generatedModels([PARAKEET]);
});
afterAll(async () => {
  await models?.remove();
});

/** Speech when ../shared is there, a chirp otherwise: the random model does not care. */
function speech(): Float32Array {
  if (hasShared('audio/jfk.wav')) return readJfk();
  return Float32Array.from({ length: 16000 * 6 }, (_, index) => 0.3 * Math.sin(0.00002 * index * index));
}

describeBackendConformance('parakeet (generated tiny TDT model)', {
  create: () => createBackend(models.dataDir, PARAKEET),
  audio: () => speech().subarray(0, 16000 * 4),
});

describe('Parakeet TDT backend', () => {
  it('declares capabilities from the repository before loading', () => {
    expect(createBackend('/nonexistent', PARAKEET, { repo: 'istupakov/parakeet-tdt-0.6b-v3-onnx' }).capabilities).toMatchObject({
      wordTimestamps: true, segmentTimestamps: true, translation: false, longForm: false, streaming: false,
    });
    expect(createBackend('/nonexistent', PARAKEET, { repo: 'istupakov/parakeet-tdt-0.6b-v3-onnx' }).capabilities.languages).toHaveLength(25);
    expect(createBackend('/nonexistent', PARAKEET, { repo: 'istupakov/parakeet-tdt-0.6b-v2-onnx' }).capabilities.languages).toEqual(['en']);
    expect(createBackend('/nonexistent', PARAKEET, { languages: ['de'] }).capabilities.languages).toEqual(['de']);
  });

  it('the int8 variant loads and transcribes the same audio', async () => {
    const fp32 = createBackend(models.dataDir, PARAKEET);
    const int8 = createBackend(models.dataDir, PARAKEET, {}, { precision: 'int8' });
    await fp32.load();
    await int8.load();
    const audio = speech().subarray(0, 16000 * 3);
    const [full, quantised] = [await fp32.transcribe(request(audio)), await int8.transcribe(request(audio))];
    expect(full.text.length).toBeGreaterThan(0);
    expect(quantised.text.length).toBeGreaterThan(0);
    // Quantised weights move the logits a little; the start of the random text survives it.
    expect(quantised.text.slice(0, 8)).toBe(full.text.slice(0, 8));
    await fp32.dispose();
    await int8.dispose();
  });

  it('a missing file with downloads off is a 503 that names the files and the way out', async () => {
    const backend = createBackend(models.dataDir, 'not-there');
    const error = await backend.load().catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.code).toBe('MODEL_UNAVAILABLE');
    expect((error as Error).message).toMatch(/encoder-model\.onnx.*download/);
  });

  it('empty and sub-frame audio give an empty transcript; an abort stops decoding', async () => {
    const backend = createBackend(models.dataDir, PARAKEET);
    await backend.load();
    expect((await backend.transcribe(request(new Float32Array(0)))).text).toBe('');
    expect((await backend.transcribe(request(new Float32Array(100)))).text).toBe('');
    const controller = new AbortController();
    controller.abort();
    const aborted = await backend.transcribe(request(speech(), { signal: controller.signal })).catch((caught: unknown) => caught);
    expect(SpeechError.is(aborted) && aborted.code).toBe('ABORTED');
    await backend.dispose();
  });

  /** `seconds` of speech: the clip again and again, a second of silence between copies. */
  function long(seconds: number): Float32Array {
    const clip = speech();
    const out = new Float32Array(16000 * seconds);
    for (let offset = 0; offset + clip.length <= out.length; offset += clip.length + 16000) out.set(clip, offset);
    return out;
  }

  it('runs the front end and onnxruntime off the event loop: the main thread stays idle while the worker transcribes', async () => {
    const audio = long(60);
    // Main-thread busy share (event-loop utilisation) during one transcription of 60 s.
    const busyShare = async (backend: NemoBackend) => {
      const before = performance.eventLoopUtilization();
      const result = await backend.transcribe(request(audio, { timestamps: true }));
      return { share: performance.eventLoopUtilization(before).utilization, result };
    };
    const inWorker = createBackend(models.dataDir, PARAKEET);
    const onMain = createBackend(models.dataDir, PARAKEET, {}, { inferenceThread: 'main' });
    await inWorker.load();
    await onMain.load();
    try {
      const worker = await busyShare(inWorker);
      const main = await busyShare(onMain);
      // The same answer either way; the log-mel front end and session.run block the thread that calls them.
      expect(worker.result).toEqual(main.result);
      expect(worker.result.words!.length).toBeGreaterThan(10);
      expect(main.share).toBeGreaterThan(0.6);
      expect(worker.share).toBeLessThan(0.3);
    } finally {
      await inWorker.dispose();
      await onMain.dispose();
    }
  });

  it('an abort mid-way stops the transcription in the worker with ABORTED, and the model serves the next request', async () => {
    const backend = createBackend(models.dataDir, PARAKEET);
    await backend.load();
    try {
      const audio = long(240);
      const controller = new AbortController();
      const pending = backend.transcribe(request(audio, { signal: controller.signal }));
      setTimeout(() => controller.abort(), 50);
      const error = (await pending.catch((caught: unknown) => caught)) as SpeechError;
      expect(SpeechError.is(error)).toBe(true);
      expect(error.code).toBe('ABORTED');
      const next = await backend.transcribe(request(speech().subarray(0, 16000 * 3)));
      expect(next.text.length).toBeGreaterThan(0);
    } finally {
      await backend.dispose();
    }
  });

  it('maxTokensPerStep changes decoding (the differential test would notice a wrong cap)', async () => {
    const standard = createBackend(models.dataDir, PARAKEET);
    const capped = createBackend(models.dataDir, PARAKEET, {}, { maxTokensPerStep: 1 });
    await standard.load();
    await capped.load();
    const audio = speech();
    const [a, b] = [await standard.transcribe(request(audio)), await capped.transcribe(request(audio))];
    expect(a.text).not.toBe(b.text);
    await standard.dispose();
    await capped.dispose();
  });
});
