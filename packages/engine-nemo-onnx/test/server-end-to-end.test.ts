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
import { startTestServer, type TestServer } from '../../server/test/test-server.js';
import { audioDirectory, hasShared, readJfk } from './support/shared-assets.js';
import { createBackend, generatedModels, request } from './support/nemo-fixtures.js';

const PARAKEET = 'parakeet-test-tiny-v3';
const WHISPER = 'whisper-test-tiny';

describe.skipIf(!hasShared('audio/jfk.wav'))('the NeMo engine behind the server, driven by the openai client', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let server: TestServer;
  let client: OpenAI;
  let wav: Buffer;
  const expected: Record<string, Awaited<ReturnType<ReturnType<typeof createBackend>['transcribe']>>> = {};

  beforeAll(async () => {
    models = await generatedModels([PARAKEET]);
    const whisper = await writeWhisperFixtures(models.dataDir, { only: new Set([WHISPER]) });
    wav = await readFile(join(audioDirectory, 'jfk.wav'));
    // What the engine says for the same audio, in process: the server must pass it through.
    const direct = createBackend(models.dataDir, PARAKEET);
    await direct.load();
    expected.parakeet = await direct.transcribe(request(readJfk(), { timestamps: true }));
    await direct.dispose();
    server = await startTestServer(
      {
        [PARAKEET]: { ...models.entries[PARAKEET], engineOptions: { download: false } },
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

  it('a Whisper model evicts the NeMo model, which reloads on its next request with the same result', async () => {
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
