import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { ESPEAK, SCRIPTED, makeTone, startTestServer, type TestServer, readJson } from './test-server.js';

let server: TestServer;
let client: OpenAI;
let tone: string;

beforeAll(async () => {
  server = await startTestServer({
    'scripted-a': { repo: 'fixtures/a', ...SCRIPTED },
    'org/scripted-b': { repo: 'fixtures/b', ...SCRIPTED, default_source_lang: 'de' },
    espeak: ESPEAK,
  });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  tone = await makeTone(join(server.dataDir, 'tone.wav'), 5);
});
afterAll(() => server?.stop());

async function post(fields: Record<string, string>, file?: { path: string; name?: string }): Promise<Response> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (file) form.append('file', new Blob([await readFile(file.path)]), file.name ?? 'audio.wav');
  return fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

describe('POST /v1/audio/transcriptions through the official openai client', () => {
  it('json is exactly {text}', async () => {
    const response = await client.audio.transcriptions
      .create({ file: createReadStream(tone), model: 'scripted-a' })
      .asResponse();
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await readJson(response)).toEqual({ text: 'the quick. quick brown.' });
  });

  it('text and txt are plain text', async () => {
    const text = await client.audio.transcriptions.create({ file: createReadStream(tone), model: 'scripted-a', response_format: 'text' });
    expect(text).toBe('the quick. quick brown.');
    const response = await post({ model: 'scripted-a', response_format: 'TXT' }, { path: tone });
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await response.text()).toBe('the quick. quick brown.');
  });

  it('verbose_json has exactly task, language, duration, text, segments, words', async () => {
    const result = await client.audio.transcriptions.create({
      file: createReadStream(tone),
      model: 'scripted-a',
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    expect(Object.keys(result)).toEqual(['task', 'language', 'duration', 'text', 'segments', 'words']);
    expect((result as unknown as { task: string }).task).toBe('transcribe');
    expect(result.language).toBe('en');
    expect(result.duration).toBeCloseTo(5, 2);
    expect(result.segments).toHaveLength(2);
    expect(Object.keys(result.segments![0]!)).toEqual([
      'id', 'seek', 'start', 'end', 'text', 'tokens', 'temperature', 'avg_logprob', 'compression_ratio', 'no_speech_prob',
    ]);
    expect(result.segments![1]).toMatchObject({ id: 1, start: 2, end: 4, text: ' quick brown.' });
    expect(result.words).toHaveLength(4);
    expect(result.words![0]).toEqual({ word: 'the', start: 0, end: 1 });
  });

  it('srt and vtt are formatted exactly', async () => {
    const srt = await client.audio.transcriptions.create({ file: createReadStream(tone), model: 'scripted-a', response_format: 'srt' });
    expect(srt).toBe('1\n00:00:00,000 --> 00:00:02,000\nthe quick.\n\n2\n00:00:02,000 --> 00:00:04,000\nquick brown.\n');
    const response = await post({ model: 'scripted-a', response_format: 'vtt' }, { path: tone });
    expect(response.headers.get('content-type')).toBe('text/vtt; charset=utf-8');
    expect(await response.text()).toBe(
      'WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nthe quick.\n\n00:00:02.000 --> 00:00:04.000\nquick brown.\n',
    );
    const srtResponse = await post({ model: 'scripted-a', response_format: 'srt' }, { path: tone });
    expect(srtResponse.headers.get('content-type')).toBe('application/x-subrip');
  });

  it('uses the registry default language and the request language', async () => {
    const fromRegistry = await client.audio.transcriptions.create({
      file: createReadStream(tone), model: 'org/scripted-b', response_format: 'verbose_json',
    });
    expect(fromRegistry.language).toBe('de');
    const fromRequest = await client.audio.transcriptions.create({
      file: createReadStream(tone), model: 'org/scripted-b', response_format: 'verbose_json', language: 'fr',
    });
    expect(fromRequest.language).toBe('fr');
  });

  it('decodes other containers (mp3) through ffmpeg', async () => {
    const mp3 = await makeTone(join(server.dataDir, 'tone.mp3'), 4.2);
    const result = await client.audio.transcriptions.create({
      file: await toFile(await readFile(mp3), 'tone.mp3'), model: 'scripted-a', response_format: 'verbose_json',
    });
    expect(result.duration).toBeGreaterThan(4.1);
    expect(result.segments).toHaveLength(2);
  });

  it('serves translations for models with the capability and names them otherwise', async () => {
    const response = await client.audio.translations
      .create({ file: createReadStream(tone), model: 'scripted-a' })
      .asResponse()
      .catch((error: unknown) => error as InstanceType<typeof OpenAI.APIError>);
    expect((response as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((response as InstanceType<typeof OpenAI.APIError>).message).toMatch(/cannot translate; models that can: none configured/);
  });
});

describe('check order and status codes (as the Python talkies)', () => {
  it('422 when model is missing', async () => {
    const response = await post({}, { path: tone });
    expect(response.status).toBe(422);
    const body = await readJson(response);
    expect(body.error.message).toMatch(/model/);
    expect(body.detail).toBe(body.error.message);
  });

  it('400 with neither file nor file_path, and with both', async () => {
    const neither = await post({ model: 'scripted-a' });
    expect(neither.status).toBe(400);
    expect((await readJson(neither)).detail).toMatch(/exactly one of `file`/);
    const both = await post({ model: 'scripted-a', file_path: 'x.wav' }, { path: tone });
    expect(both.status).toBe(400);
  });

  it('404 for an unknown model, listing the catalog, before looking at the format', async () => {
    const response = await post({ model: 'nope', response_format: 'xml' }, { path: tone });
    expect(response.status).toBe(404);
    const body = await readJson(response);
    expect(body.error).toMatchObject({ type: 'not_found_error', code: 'model_not_found', param: 'model' });
    expect(body.detail).toBe("unknown model 'nope'; configured: scripted-a, org/scripted-b, espeak");
  });

  it('400 for a TTS model, pointing at the speech route', async () => {
    const response = await post({ model: 'espeak' }, { path: tone });
    expect(response.status).toBe(400);
    expect((await readJson(response)).detail).toBe("model 'espeak' is not an ASR model — try /v1/audio/speech");
  });

  it('400 for an unknown response_format, listing the valid ones', async () => {
    const response = await post({ model: 'scripted-a', response_format: 'xml' }, { path: tone });
    expect(response.status).toBe(400);
    expect((await readJson(response)).detail).toMatch(/json, text, txt, verbose_json, srt, vtt/);
  });

  it('422 for a non-numeric temperature', async () => {
    const response = await post({ model: 'scripted-a', temperature: 'hot' }, { path: tone });
    expect(response.status).toBe(422);
  });

  it('400 for an empty upload and for bytes ffmpeg cannot read', async () => {
    const emptyPath = join(server.dataDir, 'empty.wav');
    await writeFile(emptyPath, '');
    const empty = await post({ model: 'scripted-a' }, { path: emptyPath });
    expect(empty.status).toBe(400);
    expect((await readJson(empty)).detail).toMatch(/empty/);
    const garbagePath = join(server.dataDir, 'garbage.wav');
    await writeFile(garbagePath, 'this is not audio at all'.repeat(100));
    const garbage = await post({ model: 'scripted-a' }, { path: garbagePath });
    expect(garbage.status).toBe(400);
    expect((await readJson(garbage)).error.code).toBe('audio_decode_failed');
  });

  it('reads staged files with file_path and refuses paths that leave the root', async () => {
    await mkdir(join(server.dataDir, 'files', 'calls'), { recursive: true });
    await copyFile(tone, join(server.dataDir, 'files', 'calls', 'tone.wav'));
    const ok = await post({ model: 'scripted-a', file_path: '/calls/tone.wav' });
    expect(ok.status).toBe(200);
    expect(await readJson(ok)).toEqual({ text: 'the quick. quick brown.' });
    const missing = await post({ model: 'scripted-a', file_path: 'calls/none.wav' });
    expect(missing.status).toBe(404);
    for (const bad of ['../tone.wav', 'calls/%2e%2e/x.wav', 'calls//tone.wav', 'a\\b.wav']) {
      const response = await post({ model: 'scripted-a', file_path: bad });
      expect(response.status, bad).toBe(400);
    }
  });

  it('never sends the scripted engine a request before load', () => {
    const loads = scriptedControl.events.filter((event) => event.event === 'load').length;
    expect(loads).toBeGreaterThan(0);
  });
});
