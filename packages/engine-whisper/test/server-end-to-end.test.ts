/**
 * End to end through a real talkies server with the official `openai` client: every
 * response_format of transcriptions, translations, and a model evicted and reloaded. The
 * models are generated (random weights, real layout) into the server's data directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { audioDirectory, hasShared, readJfk } from './support/shared-assets.js';
import { createBackend, generatedModels, request } from './support/whisper-fixtures.js';

const TINY = 'whisper-test-tiny';
const TIMESTAMPED = 'whisper-test-tiny_timestamped';

describe.skipIf(!hasShared('audio/jfk.wav'))('the Whisper engine behind the server, driven by the openai client', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let server: TestServer;
  let client: OpenAI;
  let wav: Buffer;
  const expected: Record<string, string> = {};

  beforeAll(async () => {
    models = await generatedModels([TINY, TIMESTAMPED]);
    wav = await readFile(join(audioDirectory, 'jfk.wav'));
    // What the engine says for the same audio, in process: the server must pass it through.
    const direct = createBackend(models.dataDir, TINY);
    await direct.load();
    const audio = readJfk();
    expected.plain = (await direct.transcribe(request(audio, { language: 'en' }))).text;
    expected.timed = (await direct.transcribe(request(audio, { language: 'en', timestamps: true }))).text;
    // Translations carry no language: the engine detects it first.
    expected.translated = (await direct.transcribe(request(audio, { task: 'translate', timestamps: true }))).text;
    await direct.dispose();
    const entry = (slug: string) => ({
      repo: `talkies-fixtures/${slug}`,
      executor: 'whisper',
      modality: 'asr',
      // Random weights fail every quality check: fallback would only re-decode.
      engineOptions: { temperatureFallback: false, download: false },
    });
    server = await startTestServer({ [TINY]: entry(TINY), [TIMESTAMPED]: entry(TIMESTAMPED) }, { dataDir: models.dataDir, maxLoadedModels: 1 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.stop();
    await models?.remove();
  });

  const file = () => toFile(wav, 'jfk.wav', { type: 'audio/wav' });
  const loaded = async () =>
    ((await (await fetch(`${server.url}/api/ps`)).json()) as { models: Array<{ id: string }> }).models.map((model) => model.id);

  it('json', async () => {
    const result = await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en', response_format: 'json' });
    expect(result.text).toBe(expected.plain);
  });

  it('text', async () => {
    const result = await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en', response_format: 'text' });
    expect(result).toBe(expected.plain);
  });

  it('verbose_json carries real Whisper confidence fields', async () => {
    const result = await client.audio.transcriptions.create({
      file: await file(), model: TINY, language: 'en', response_format: 'verbose_json', timestamp_granularities: ['segment', 'word'],
    });
    expect(result.text).toBe(expected.timed);
    expect(result.language).toBe('en');
    expect(result.duration).toBeCloseTo(11, 0);
    expect(result.segments!.length).toBeGreaterThan(0);
    for (const segment of result.segments!) {
      expect(segment.end).toBeGreaterThan(segment.start);
      expect(segment.tokens.length).toBeGreaterThan(2);
      expect(segment.tokens[0]).toBeGreaterThanOrEqual(50364);
      expect(segment.avg_logprob).toBeLessThan(0);
      expect(segment.compression_ratio).toBeGreaterThan(0);
      expect(segment.no_speech_prob).toBeGreaterThanOrEqual(0);
      expect(segment.no_speech_prob).toBeLessThanOrEqual(1);
      expect(segment.temperature).toBe(0);
    }
  });

  it('srt and vtt cue the segments', async () => {
    const srt = (await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en', response_format: 'srt' })) as unknown as string;
    expect(srt).toMatch(/^1\n00:00:00,000 --> 00:00:0\d,\d{3}\n\S/);
    const vtt = (await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en', response_format: 'vtt' })) as unknown as string;
    expect(vtt.startsWith('WEBVTT\n\n00:00:00.000 --> ')).toBe(true);
  });

  it('translations use the translate task', async () => {
    const result = await client.audio.translations.create({ file: await file(), model: TINY, response_format: 'verbose_json' });
    expect(result.text).toBe(expected.translated);
    expect((result as unknown as { task: string }).task).toBe('translate');
  });

  it('detects the language when none is given, and honours the prompt', async () => {
    const detected = await client.audio.transcriptions.create({ file: await file(), model: TINY, response_format: 'verbose_json' });
    expect(detected.language).toMatch(/^[a-z]{2,3}$/);
    const prompted = await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en', prompt: 'Ask not what your country can do.' });
    expect(typeof prompted.text).toBe('string');
  });

  it('a second model evicts the first, which reloads on its next request with the same result', async () => {
    expect(await loaded()).toEqual([TINY]);
    const words = await client.audio.transcriptions.create({
      file: await file(), model: TIMESTAMPED, language: 'en', response_format: 'verbose_json', timestamp_granularities: ['word'],
    });
    expect(words.words!.length).toBeGreaterThan(0);
    for (const word of words.words!) expect(word.end).toBeGreaterThanOrEqual(word.start);
    expect(await loaded()).toEqual([TIMESTAMPED]);
    const again = await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en' });
    expect(again.text).toBe(expected.plain);
    expect(await loaded()).toEqual([TINY]);
    const removed = await fetch(`${server.url}/api/ps/${TINY}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect(await loaded()).toEqual([]);
    const reloaded = await client.audio.transcriptions.create({ file: await file(), model: TINY, language: 'en', response_format: 'text' });
    expect(reloaded).toBe(expected.plain);
  });
});
