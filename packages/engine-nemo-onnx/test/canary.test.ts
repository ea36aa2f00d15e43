/**
 * Canary (AED) decoding on a generated model whose decoder's choices are known by
 * construction (see src/testing/canary-graphs.ts): the expected tokens are computed from the
 * prompt ids and the number of encoder frames alone, without any decoder. Shown: the prompt's
 * exact ids, the stop on end of text, the translation direction, and the `decoder_mems` cache
 * giving the same tokens as decoding without it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackendConformance } from '@talkies/core/testing';
import { SpeechError } from '@talkies/core';
import { CanaryModel } from '../src/canary-runtime.js';
import { nemoOptionsSchema } from '../src/engine-options.js';
import { expectedCanaryTokens, TINY_CANARY } from '../src/testing/index.js';
import { hasShared, readJfk } from './support/shared-assets.js';
import { createBackend, generatedModels, request } from './support/nemo-fixtures.js';

const CANARY = 'canary-test-tiny-flash';
const ENTRY = { executor: 'canary_multitask', languages: ['en', 'de', 'es', 'fr'] };

function speech(seconds: number): Float32Array {
  if (hasShared('audio/jfk.wav')) return readJfk().subarray(0, Math.round(seconds * 16000));
  return Float32Array.from({ length: Math.round(seconds * 16000) }, (_, index) => 0.3 * Math.sin(0.00002 * index * index));
}

let models: Awaited<ReturnType<typeof generatedModels>>;
beforeAll(async () => {
  models = await generatedModels([CANARY, 'canary-test-tiny-flash-de2en']);
});
afterAll(async () => {
  await models?.remove();
});

describeBackendConformance('canary_multitask (generated tiny AED model)', {
  create: () => createBackend(models.dataDir, CANARY, ENTRY),
  audio: () => speech(4),
});

describe('Canary decoding', () => {
  let model: CanaryModel;
  const ids = (pieces: string[]) => pieces.map((piece) => model.vocabulary.id(piece)!);
  const prompt = (source: string, target: string, pnc = '<|pnc|>') =>
    ids(['\u2581', '<|startofcontext|>', '<|startoftranscript|>', '<|emo:undefined|>', `<|${source}|>`, `<|${target}|>`, pnc, '<|noitn|>', '<|notimestamp|>', '<|nodiarize|>']);

  beforeAll(async () => {
    model = await CanaryModel.load(join(models.dataDir, 'models', CANARY), nemoOptionsSchema.parse({}), { repo: 'x', ...ENTRY });
  });
  afterAll(async () => {
    await model?.release();
  });

  async function frames(audio: Float32Array): Promise<number> {
    const encoded = (await model.encode(audio))!;
    return Number((encoded.mask.data as BigInt64Array).reduce((total, value) => total + value, 0n));
  }

  for (const seconds of [0.5, 3, 11]) {
    it(`${seconds} s: the prompt goes first, then one token per call with the mems, until end of text`, async () => {
      const audio = speech(seconds);
      const encoded = (await model.encode(audio))!;
      const expectedPrompt = prompt('en', 'en');
      const decoded = await model.decode(encoded, expectedPrompt, { recordCalls: true });
      const expected = expectedCanaryTokens(TINY_CANARY.rule, expectedPrompt, await frames(audio));
      expect(expected.length).toBe(Math.floor((await frames(audio)) / TINY_CANARY.rule.framesPerToken) + 1);
      expect(decoded.tokens).toEqual(expected);
      expect(decoded.calls![0]).toEqual(expectedPrompt);
      expect(decoded.calls!.slice(1)).toEqual(expected.map((token) => [token]));
      // The cache hand-over gives what decoding the whole sequence every time gives.
      expect((await model.decode(encoded, expectedPrompt, { useCache: false })).tokens).toEqual(expected);
    });
  }

  it('the transcription builds the prompt from the request: language, task and pnc', async () => {
    const audio = speech(3);
    const count = await frames(audio);
    const text = (source: string, target: string, pnc?: string) => model.vocabulary.decode(expectedCanaryTokens(TINY_CANARY.rule, prompt(source, target, pnc), count));
    expect((await model.transcribe(request(audio, { language: 'de' }))).text).toBe(text('de', 'de'));
    expect((await model.transcribe(request(audio, { language: 'fr', task: 'translate' }))).text).toBe(text('fr', 'en'));
    expect(text('fr', 'en')).not.toBe(text('fr', 'fr'));
    const noPunctuation = await CanaryModel.load(join(models.dataDir, 'models', CANARY), nemoOptionsSchema.parse({ pnc: false }), { repo: 'x', ...ENTRY });
    expect((await noPunctuation.transcribe(request(audio))).text).toBe(text('en', 'en', '<|nopnc|>'));
    await noPunctuation.release();
  });

  it('maxSequenceLength stops decoding, prompt included', async () => {
    const limited = await CanaryModel.load(join(models.dataDir, 'models', CANARY), nemoOptionsSchema.parse({ maxSequenceLength: 16 }), { repo: 'x', ...ENTRY });
    const encoded = (await limited.encode(speech(11)))!;
    expect((await limited.decode(encoded, prompt('en', 'en'))).tokens).toHaveLength(6);
    await limited.release();
  });
});

describe('Canary backend', () => {
  it('a translation slug translates in its direction; the result is one segment over the audio, without words', async () => {
    const audio = speech(5);
    const slug = createBackend(models.dataDir, 'canary-test-tiny-flash-de2en', {
      ...ENTRY, default_task: 's2t_translation', default_source_lang: 'de', default_target_lang: 'en',
    });
    const plain = createBackend(models.dataDir, CANARY, ENTRY);
    await slug.load();
    await plain.load();
    const translated = await slug.transcribe(request(audio, { timestamps: true }));
    expect(translated.language).toBe('de');
    // The server passes default_source_lang as `language`; the direction comes from the entry.
    expect((await slug.transcribe(request(audio, { language: 'de' }))).text).toBe(translated.text);
    expect(translated.text).toBe((await plain.transcribe(request(audio, { language: 'de', task: 'translate' }))).text);
    expect(translated.text).not.toBe((await plain.transcribe(request(audio, { language: 'de' }))).text);
    expect(translated.segments).toHaveLength(1);
    expect(translated.segments[0]).toMatchObject({ start: 0, end: 5 });
    expect(translated.words).toEqual([]);
    await slug.dispose();
    await plain.dispose();
  });

  it('an unsupported language is a 400 that lists the model’s languages', async () => {
    const backend = createBackend(models.dataDir, CANARY, ENTRY);
    await backend.load();
    const error = await backend.transcribe(request(speech(1), { language: 'it' })).catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.status).toBe(400);
    expect((error as Error).message).toContain('supports: en, de, es, fr');
    await backend.dispose();
  });
});
