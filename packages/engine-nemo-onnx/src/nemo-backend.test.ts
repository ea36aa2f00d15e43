import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackendConformance } from '@talkies/core/testing';
import { SpeechError } from '@talkies/core';
import { hasShared, readJfk } from '../test/support/shared-assets.js';
import { createBackend, generatedModels, request } from '../test/support/nemo-fixtures.js';

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
