import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinSamples, SpeechError, type SpeechAudio } from '@talkies/core';
import { describeBackendConformance } from '@talkies/core/testing';
import { PUBLISHED_VOICES } from './published-voices.js';
import { createBackend, recordingLogger, signal, TEST_VOICES, writeTestModels, type TestModels } from './__fixtures__/test-models.js';
import { JOIN_FADE_SECONDS } from './join-audio.js';
import { KokoroBackend } from './kokoro-backend.js';
import { STYLE_ROWS, STYLE_WIDTH } from './model-layout.js';

let models: TestModels;
beforeAll(async () => {
  models = await writeTestModels();
});
afterAll(() => models?.remove());

describeBackendConformance('kokoro (onnx-community layout)', { create: () => createBackend(models.onnxCommunity, 'kokoro') });
describeBackendConformance('kokoro_nvidia (nvidia layout)', { create: () => createBackend(models.nvidia, 'kokoro_nvidia') });

async function blocksOf(backend: KokoroBackend, text: string, voice = 'af_heart', speed = 1): Promise<SpeechAudio[]> {
  const blocks: SpeechAudio[] = [];
  for await (const block of backend.synthesizeStream({ text, voice, speed, signal: signal() })) blocks.push(block);
  return blocks;
}

const concat = (blocks: SpeechAudio[]) => joinSamples(blocks.map((block) => block.samples));

async function errorOf(promise: Promise<unknown>): Promise<SpeechError> {
  try {
    await promise;
  } catch (error) {
    if (SpeechError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a SpeechError');
}

for (const [layout, executor] of [['onnx-community', 'kokoro'], ['nvidia', 'kokoro_nvidia']] as const) {
  describe(`${layout} layout through one engine`, () => {
    let backend: KokoroBackend;
    beforeAll(async () => {
      backend = createBackend(layout === 'nvidia' ? models.nvidia : models.onnxCommunity, executor);
      await backend.load();
    });
    afterAll(() => backend?.dispose());

    it('reads its voice catalog from the snapshot, without ja and zh, and defaults to af_heart', async () => {
      expect(backend.layout).toBe(layout);
      const voices = await backend.voices();
      expect(voices.map((voice) => voice.id).sort()).toEqual(TEST_VOICES.filter((name) => !/^[jz]/.test(name)).sort());
      expect(voices.find((voice) => voice.id === 'ef_dora')?.language).toBe('es');
      expect(voices.find((voice) => voice.id === 'bf_emma')?.language).toBe('en-GB');
      expect(backend.defaultVoice).toBe('af_heart');
      expect(backend.capabilities).toEqual({ streaming: true, languages: ['en', 'es', 'fr', 'hi', 'it', 'pt'], instructions: false });
    });

    it('speaks at 24 kHz, sentence by sentence, and synthesize() is the stream concatenated', async () => {
      const text = 'First sentence here. And a second one, with a clause! A third?';
      const blocks = await blocksOf(backend, text);
      expect(blocks).toHaveLength(3);
      expect(blocks.every((block) => block.sampleRate === 24000)).toBe(true);
      const whole = await backend.synthesize({ text, voice: 'af_heart', speed: 1, signal: signal() });
      expect(whole.sampleRate).toBe(24000);
      expect(whole.samples).toEqual(concat(blocks));
    });

    it('applies speed through the float input: 2x is half as long', async () => {
      const normal = concat(await blocksOf(backend, 'Speed test sentence.', 'af_heart', 1));
      const fast = concat(await blocksOf(backend, 'Speed test sentence.', 'af_heart', 2));
      const slow = concat(await blocksOf(backend, 'Speed test sentence.', 'af_heart', 0.5));
      expect(fast.length / normal.length).toBeCloseTo(0.5, 2);
      expect(slow.length / normal.length).toBeCloseTo(2, 2);
    });

    it('blends voices: equal and weighted mixes of the style tables', async () => {
      const text = 'Blending voices.';
      const bella = concat(await blocksOf(backend, text, 'af_bella'));
      const sky = concat(await blocksOf(backend, text, 'af_sky'));
      const equal = concat(await blocksOf(backend, text, 'af_bella+af_sky'));
      const weighted = concat(await blocksOf(backend, text, 'af_bella(2)+af_sky(1)'));
      const sameWeights = concat(await blocksOf(backend, text, 'af_bella(1)+af_sky(1)'));
      expect(equal).not.toEqual(bella);
      expect(equal).not.toEqual(sky);
      expect(weighted).not.toEqual(equal);
      expect(sameWeights).toEqual(equal);
      await expect(backend.validateVoice('af_bella(2)+af_sky(1)')).resolves.toBeUndefined();
    });

    it('refuses an unknown voice, alone or in a blend, with a 400 that lists the voices', async () => {
      for (const voice of ['af_nobody', 'af_bella+af_nobody', 'jf_alpha']) {
        const error = await errorOf(backend.validateVoice(voice));
        expect(error.status).toBe(400);
        expect(error.param).toBe('voice');
        expect(error.message).toMatch(/available voices: .*af_heart/);
      }
      const malformed = await errorOf(backend.validateVoice('af_bella(-1)+af_sky'));
      expect(malformed.status).toBe(400);
      expect(malformed.message).toMatch(/weighted blend/);
    });

    it('cuts a sentence longer than 510 phonemes at clauses and joins the pieces with fades', async () => {
      const clause = 'and then the long sentence keeps going on and on without stopping';
      const text = `${Array.from({ length: 12 }, () => clause).join(', ')}.`;
      const blocks = await blocksOf(backend, text);
      expect(blocks.length).toBeGreaterThan(1);
      const fade = Math.round(JOIN_FADE_SECONDS * 24000);
      blocks.forEach((block, index) => {
        // The first sample after a join and the last before one are faded to almost nothing.
        if (index > 0) expect(Math.abs(block.samples[0]!)).toBeLessThan(0.01);
        if (index < blocks.length - 1) expect(Math.abs(block.samples.at(-1)!)).toBeLessThan(0.01);
        expect(block.samples.length).toBeGreaterThan(2 * fade);
      });
      // The clip's own start and end are the model's, untouched.
      expect(Math.abs(blocks[0]!.samples[1]!)).toBeGreaterThan(0);
    });

    it('accepts instructions, ignores them and says so in the log', async () => {
      const logger = recordingLogger();
      const logged = createBackend(layout === 'nvidia' ? models.nvidia : models.onnxCommunity, executor, {}, logger);
      await logged.load();
      try {
        const plain = await logged.synthesize({ text: 'Calm words.', voice: 'af_heart', speed: 1, signal: signal() });
        const instructed = await logged.synthesize({ text: 'Calm words.', voice: 'af_heart', speed: 1, instructions: 'Speak calmly.', signal: signal() });
        expect(instructed.samples).toEqual(plain.samples);
        expect(instructed.warnings).toEqual(['instructions are ignored by Kokoro']);
        expect(logger.lines.some((line) => line.level === 'warn' && /instructions were ignored/.test(line.message ?? ''))).toBe(true);
      } finally {
        await logged.dispose();
      }
    });

    it('lets `language` override the voice language, and refuses one Kokoro does not speak', async () => {
      const english = concat(await blocksOf(backend, 'Hola amigo.', 'af_heart'));
      const blocks: SpeechAudio[] = [];
      for await (const block of backend.synthesizeStream({ text: 'Hola amigo.', voice: 'af_heart', speed: 1, language: 'es', signal: signal() })) blocks.push(block);
      expect(concat(blocks)).not.toEqual(english);
      const error = await errorOf(backend.synthesize({ text: 'Hallo.', voice: 'af_heart', speed: 1, language: 'de', signal: signal() }));
      expect(error.status).toBe(400);
      expect(error.param).toBe('language');
    });

    it('refuses text with nothing to pronounce', async () => {
      const error = await errorOf(backend.synthesize({ text: '_ _', voice: 'af_heart', speed: 1, signal: signal() }));
      expect(error.status).toBe(400);
    });

    it('stops at once when the request aborts mid-stream, and serves the next request', async () => {
      const controller = new AbortController();
      const text = Array.from({ length: 30 }, (_, index) => `This is sentence number ${index + 1}.`).join(' ');
      const before = backend.inferenceCount;
      const iterator = backend.synthesizeStream({ text, voice: 'af_heart', speed: 1, signal: controller.signal })[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort();
      const error = await errorOf(iterator.next());
      expect(error.code).toBe('ABORTED');
      // At most the sentence in flight and the one queued ahead of it ran.
      expect(backend.inferenceCount - before).toBeLessThanOrEqual(3);
      const next = await backend.synthesize({ text: 'Still here.', voice: 'af_heart', speed: 1, signal: signal() });
      expect(next.samples.length).toBeGreaterThan(0);
    });
  });
}

describe('an export whose speed input is int32', () => {
  let intModels: TestModels;
  let backend: KokoroBackend;
  const logger = recordingLogger();
  beforeAll(async () => {
    intModels = await writeTestModels({ speedType: 'int32', voices: ['af_heart'] });
    backend = createBackend(intModels.onnxCommunity, 'kokoro', {}, logger);
    await backend.load();
  });
  afterAll(async () => {
    await backend?.dispose();
    await intModels?.remove();
  });

  it('is noticed at load, and 1.5 is not truncated to 1: whole speeds go to the model, the rest is time-stretched', async () => {
    expect(logger.lines.some((line) => line.level === 'warn' && /int32/.test(line.message ?? ''))).toBe(true);
    const text = 'Integer speed inputs truncate.';
    const normal = concat(await blocksOf(backend, text, 'af_heart', 1));
    const double = concat(await blocksOf(backend, text, 'af_heart', 2));
    const oneAndHalf = concat(await blocksOf(backend, text, 'af_heart', 1.5));
    expect(double.length / normal.length).toBeCloseTo(0.5, 2);
    expect(oneAndHalf.length / normal.length).toBeGreaterThan(0.63);
    expect(oneAndHalf.length / normal.length).toBeLessThan(0.7);
  });
});

describe('files that are missing or wrong', () => {
  it('answers the published voice catalog before download; load() says which file is missing and what to download', async () => {
    // Downloads off: this test must not reach the real hub (model-download.test.ts covers downloads).
    const backend = createBackend('/nonexistent/kokoro', 'kokoro', { download: false });
    const voices = (await backend.voices()).map((voice) => voice.id);
    expect(voices).toEqual([...PUBLISHED_VOICES]);
    await backend.validateVoice('af_bella+af_sky');
    expect((await errorOf(backend.validateVoice('zz_nobody'))).status).toBe(400);
    const error = await errorOf(backend.load());
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toMatch(/onnx-community\/Kokoro-82M-v1.0-ONNX/);
  });

  it('a default_voice outside the catalog fails the load with the choices', async () => {
    const backend = createBackend(models.onnxCommunity, 'kokoro', {}, recordingLogger(), { default_voice: 'zf_xiaobei' });
    const error = await errorOf(backend.load());
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.message).toMatch(/af_heart/);
  });

  it('tensor names the engine does not know are reported with the names the model has', async () => {
    const backend = createBackend(models.onnxCommunity, 'kokoro', { inputNames: { tokens: 'phoneme_ids' } });
    const error = await errorOf(backend.load());
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.message).toMatch(/input_ids, style, speed/);
  });

  it('the voice table has the shape Kokoro uses', () => {
    expect(STYLE_ROWS * STYLE_WIDTH * 4).toBe(522240);
  });
});
