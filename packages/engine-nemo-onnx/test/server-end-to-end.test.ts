/**
 * End to end through a real talkies server with the official `openai` client: every
 * response_format for each executor, translations and the translation slugs, an unsupported
 * language (400), and a NeMo model evicted by a Whisper model and reloaded. The models are
 * generated (random weights, real layout) into the server's data directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtures as writeWhisperFixtures } from '@talkies/engine-whisper/testing';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { audioDirectory, hasShared, readJfk } from './support/shared-assets.js';
import { createBackend, generatedModels, request } from './support/nemo-fixtures.js';
import { wavFile } from '@talkies/testkit';

const PARAKEET = 'parakeet-test-tiny-v3';
const CANARY = 'canary-test-tiny-flash';
const DE2EN = 'canary-test-tiny-flash-de2en';
const EN2DE = 'canary-test-tiny-flash-en2de';
const QWEN = 'canary-qwen-test-tiny';
const WHISPER = 'whisper-test-tiny';

describe.skipIf(!hasShared('audio/jfk.wav'))('the NeMo engine behind the server, driven by the openai client', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let server: TestServer;
  let client: OpenAI;
  let wav: Buffer;
  let long: Float32Array;
  const expected: Record<string, Awaited<ReturnType<ReturnType<typeof createBackend>['transcribe']>>> = {};

  beforeAll(async () => {
    models = await generatedModels([PARAKEET, CANARY, DE2EN, EN2DE, QWEN]);
    const whisper = await writeWhisperFixtures(models.dataDir, { only: new Set([WHISPER]) });
    wav = await readFile(join(audioDirectory, 'jfk.wav'));
    // What the engine says for the same audio, in process: the server must pass it through.
    const direct = createBackend(models.dataDir, PARAKEET);
    await direct.load();
    expected.parakeet = await direct.transcribe(request(readJfk(), { timestamps: true }));
    await direct.dispose();
    const canary = createBackend(models.dataDir, CANARY, models.entries[CANARY]);
    await canary.load();
    expected.canary = await canary.transcribe(request(readJfk(), { timestamps: true }));
    expected.deToEn = await canary.transcribe(request(readJfk(), { language: 'de', task: 'translate' }));
    expected.deToDe = await canary.transcribe(request(readJfk(), { language: 'de' }));
    await canary.dispose();
    const toGerman = createBackend(models.dataDir, EN2DE, models.entries[EN2DE]);
    await toGerman.load();
    expected.enToDe = await toGerman.transcribe(request(readJfk(), { language: 'en' }));
    await toGerman.dispose();
    const qwen = createBackend(models.dataDir, QWEN, models.entries[QWEN]);
    await qwen.load();
    expected.qwen = await qwen.transcribe(request(readJfk(), { language: 'en', timestamps: true }));
    await qwen.dispose();
    long = new Float32Array(16000 * 40);
    long.set(readJfk(), 16000 * 1);
    long.set(readJfk(), 16000 * 14);
    long.set(readJfk(), 16000 * 27);
    server = await startTestServer(
      {
        [PARAKEET]: { ...models.entries[PARAKEET], engineOptions: { download: false } },
        [CANARY]: { ...models.entries[CANARY], engineOptions: { download: false } },
        [DE2EN]: { ...models.entries[DE2EN], engineOptions: { download: false } },
        [EN2DE]: { ...models.entries[EN2DE], engineOptions: { download: false } },
        [QWEN]: { ...models.entries[QWEN], engineOptions: { download: false } },
        [WHISPER]: { ...whisper[WHISPER], engineOptions: { temperatureFallback: false, download: false } },
      },
      { dataDir: models.dataDir, maxLoadedModels: 1 },
    );
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.stop();
    await models?.remove();
  });

  const file = () => toFile(wav, 'jfk.wav', { type: 'audio/wav' });
  const loaded = async () =>
    ((await (await fetch(`${server.url}/api/ps`)).json()) as { models: Array<{ id: string }> }).models.map((model) => model.id);

  describe('Parakeet TDT (parakeet)', () => {
    it('json and text carry the transcript', async () => {
      expect(expected.parakeet!.text.length).toBeGreaterThan(20);
      const json = await client.audio.transcriptions.create({ file: await file(), model: PARAKEET, response_format: 'json' });
      expect(json.text).toBe(expected.parakeet!.text);
      const text = await client.audio.transcriptions.create({ file: await file(), model: PARAKEET, response_format: 'text' });
      expect(text.trim()).toBe(expected.parakeet!.text);
    });

    it('verbose_json has word and segment times in 80 ms frames, confidences and the language', async () => {
      const result = await client.audio.transcriptions.create({
        file: await file(), model: PARAKEET, language: 'de', response_format: 'verbose_json', timestamp_granularities: ['segment', 'word'],
      });
      expect(result.text).toBe(expected.parakeet!.text);
      expect(result.language).toBe('de');
      expect(result.duration).toBeCloseTo(11, 0);
      expect(result.words!.length).toBe(expected.parakeet!.words.length);
      for (const word of result.words!) {
        expect(Math.round(word.start * 1000) % 80).toBe(0);
        expect(Math.round(word.end * 1000) % 80).toBe(0);
        expect(word.end).toBeGreaterThan(word.start);
        expect(word.end).toBeLessThanOrEqual(11.1);
      }
      const confidences = (result.words as unknown as Array<{ confidence?: number }>).map((word) => word.confidence);
      expect(confidences.every((value) => value === undefined || (value >= 0 && value <= 1))).toBe(true);
      expect(result.segments!.length).toBe(expected.parakeet!.segments.length);
      expect(result.segments!.map((segment) => segment.text.trim()).join(' ')).toBe(expected.parakeet!.text);
      for (const segment of result.segments!) {
        expect(segment.end).toBeGreaterThan(segment.start);
        expect(segment.avg_logprob).toBeLessThan(0);
        expect(segment.tokens.length).toBeGreaterThan(0);
      }
    });

    it('srt and vtt cue the segments', async () => {
      const srt = (await client.audio.transcriptions.create({ file: await file(), model: PARAKEET, response_format: 'srt' })) as unknown as string;
      expect(srt).toMatch(/^1\n00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}\n\S/);
      expect(srt.split('\n\n').filter((cue) => cue.trim() !== '').length).toBe(expected.parakeet!.segments.length);
      const vtt = (await client.audio.transcriptions.create({ file: await file(), model: PARAKEET, response_format: 'vtt' })) as unknown as string;
      expect(vtt.startsWith('WEBVTT\n\n00:00:0')).toBe(true);
    });

    it('an unsupported language is a 400 that lists the languages', async () => {
      const error = await client.audio.transcriptions.create({ file: await file(), model: PARAKEET, language: 'ja' }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      const message = (error as InstanceType<typeof OpenAI.BadRequestError>).message;
      expect(message).toContain("does not support language 'ja'");
      expect(message).toContain('bg, hr, cs');
    });

    it('translations are refused with the models that can translate', async () => {
      const error = await client.audio.translations.create({ file: await file(), model: PARAKEET }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as Error).message).toContain('cannot translate');
    });
  });

  describe('Canary (canary_multitask)', () => {
    it('json, text, srt and vtt carry the transcript', async () => {
      expect(expected.canary!.text.length).toBeGreaterThan(20);
      const json = await client.audio.transcriptions.create({ file: await file(), model: CANARY, response_format: 'json' });
      expect(json.text).toBe(expected.canary!.text);
      const text = await client.audio.transcriptions.create({ file: await file(), model: CANARY, response_format: 'text' });
      expect(text.trim()).toBe(expected.canary!.text);
      const srt = (await client.audio.transcriptions.create({ file: await file(), model: CANARY, response_format: 'srt' })) as unknown as string;
      expect(srt).toMatch(/^1\n00:00:00,000 --> 00:00:11,0\d\d\n\S/);
      const vtt = (await client.audio.transcriptions.create({ file: await file(), model: CANARY, response_format: 'vtt' })) as unknown as string;
      expect(vtt.startsWith('WEBVTT\n\n00:00:00.000 --> 00:00:11.0')).toBe(true);
    });

    it('verbose_json: one segment over the audio, no words, the language', async () => {
      const result = await client.audio.transcriptions.create({
        file: await file(), model: CANARY, language: 'en', response_format: 'verbose_json', timestamp_granularities: ['segment', 'word'],
      });
      expect(result.text).toBe(expected.canary!.text);
      expect(result.language).toBe('en');
      expect(result.words).toEqual([]);
      expect(result.segments).toHaveLength(1);
      expect(result.segments![0]!.start).toBe(0);
      expect(result.segments![0]!.end).toBeCloseTo(11, 1);
    });

    it('long audio: the segment times are the VAD chunker’s pieces', async () => {
      const result = await client.audio.transcriptions.create({
        file: await toFile(wavFile(long), 'long.wav', { type: 'audio/wav' }), model: CANARY, response_format: 'verbose_json', timestamp_granularities: ['segment'],
      });
      expect(result.duration).toBeCloseTo(40, 0);
      // The chunker packs speech into pieces of at most 28 s: 1–25 s and 27–38 s here.
      expect(result.segments!.length).toBe(2);
      const [first, second] = result.segments!;
      expect(first!.start).toBeCloseTo(1, 0);
      expect(second!.start).toBeCloseTo(27, 0);
      expect(first!.end).toBeLessThanOrEqual(second!.start);
      for (const segment of result.segments!) expect(segment.end).toBeGreaterThan(segment.start);
    });

    it('/v1/audio/translations reaches Canary through the translation capability (X→en)', async () => {
      const result = await client.audio.translations.create({ file: await file(), model: CANARY, response_format: 'verbose_json', language: 'de' } as never);
      expect(result.text).toBe(expected.deToEn!.text);
      expect((result as unknown as { task: string }).task).toBe('translate');
      expect(expected.deToEn!.text).not.toBe(expected.deToDe!.text);
    });

    it('translation slugs translate de→en and en→de', async () => {
      const deToEn = await client.audio.transcriptions.create({ file: await file(), model: DE2EN, response_format: 'verbose_json' });
      expect(deToEn.text).toBe(expected.deToEn!.text);
      expect(deToEn.language).toBe('de');
      const enToDe = await client.audio.transcriptions.create({ file: await file(), model: EN2DE, response_format: 'verbose_json' });
      expect(enToDe.text).toBe(expected.enToDe!.text);
      expect(enToDe.language).toBe('en');
      expect(enToDe.text).not.toBe(deToEn.text);
    });

    it('an unsupported language is a 400 that lists the languages', async () => {
      const error = await client.audio.transcriptions.create({ file: await file(), model: CANARY, language: 'it' }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as Error).message).toContain("does not support language 'it'; it supports: en, de, es, fr");
    });
  });

  describe('canary-qwen (canary_salm)', () => {
    it('every response format; verbose_json has one segment and empty words', async () => {
      expect(expected.qwen!.text.length).toBeGreaterThan(10);
      const json = await client.audio.transcriptions.create({ file: await file(), model: QWEN, response_format: 'json' });
      expect(json.text).toBe(expected.qwen!.text);
      const text = await client.audio.transcriptions.create({ file: await file(), model: QWEN, response_format: 'text' });
      expect(text.trim()).toBe(expected.qwen!.text);
      const verbose = await client.audio.transcriptions.create({ file: await file(), model: QWEN, response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'] });
      expect(verbose.text).toBe(expected.qwen!.text);
      expect(verbose.words).toEqual([]);
      expect(verbose.segments).toHaveLength(1);
      expect(verbose.language).toBe('en');
      const srt = (await client.audio.transcriptions.create({ file: await file(), model: QWEN, response_format: 'srt' })) as unknown as string;
      expect(srt).toMatch(/^1\n00:00:00,000 --> 00:00:11,0\d\d\n\S/);
      const vtt = (await client.audio.transcriptions.create({ file: await file(), model: QWEN, response_format: 'vtt' })) as unknown as string;
      expect(vtt.startsWith('WEBVTT\n\n00:00:00.000 --> ')).toBe(true);
    });

    it('refuses another language (400) and translations', async () => {
      const language = await client.audio.transcriptions.create({ file: await file(), model: QWEN, language: 'de' }).catch((caught: unknown) => caught);
      expect(language).toBeInstanceOf(OpenAI.BadRequestError);
      expect((language as Error).message).toContain('it supports: en');
      const translation = await client.audio.translations.create({ file: await file(), model: QWEN }).catch((caught: unknown) => caught);
      expect(translation).toBeInstanceOf(OpenAI.BadRequestError);
    });
  });

  it('a Whisper model evicts the NeMo models, which reload on their next request with the same result', async () => {
    await client.audio.transcriptions.create({ file: await file(), model: CANARY });
    expect(await loaded()).toEqual([CANARY]);
    await client.audio.transcriptions.create({ file: await file(), model: WHISPER, language: 'en' });
    expect(await loaded()).toEqual([WHISPER]);
    expect((await client.audio.transcriptions.create({ file: await file(), model: CANARY })).text).toBe(expected.canary!.text);
    await client.audio.transcriptions.create({ file: await file(), model: PARAKEET });
    expect(await loaded()).toEqual([PARAKEET]);
    const whisper = await client.audio.transcriptions.create({ file: await file(), model: WHISPER, language: 'en' });
    expect(typeof whisper.text).toBe('string');
    expect(await loaded()).toEqual([WHISPER]);
    const again = await client.audio.transcriptions.create({ file: await file(), model: PARAKEET });
    expect(again.text).toBe(expected.parakeet!.text);
    expect(await loaded()).toEqual([PARAKEET]);
  });
});
