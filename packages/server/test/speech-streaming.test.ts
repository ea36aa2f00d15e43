/**
 * Streaming speech output, for every TTS engine: espeak (built in) and Kokoro (a
 * generated model from the engine's fixtures). stream_format "audio" and pcm send
 * chunked audio sentence by sentence; "sse" sends OpenAI's events; the whole answer is
 * the same audio; a client that leaves stops the engine and frees the model.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtures } from '@talkies/engine-kokoro/testing';
import { ESPEAK, probe, startTestServer, type TestServer, readJson } from './test-server.js';

let server: TestServer;
let client: OpenAI;

beforeAll(async () => {
  const kokoro = {
    repo: 'onnx-community/Kokoro-82M-v1.0-ONNX',
    executor: 'kokoro',
    modality: 'tts',
    default_voice: 'af_heart',
    engineOptions: { threads: 1 },
  };
  server = await startTestServer({ espeak: ESPEAK, 'kokoro-82m': kokoro }, { maxLoadedModels: 2 });
  await writeFixtures(server.dataDir, { only: new Set(['kokoro-82m']), voices: ['af_heart', 'af_bella'] });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => server?.stop());

const MODELS = [
  { slug: 'espeak', voice: 'en-us' },
  { slug: 'kokoro-82m', voice: 'af_heart' },
] as const;

const TEXT = 'The first sentence is short. The second one is a little longer than the first! Is the third a question? Four.';

function speech(body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

async function bytesOf(response: Response): Promise<Buffer> {
  expect(response.status, await response.clone().text().catch(() => '')).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** Reads a body chunk by chunk, noting when each arrived. */
async function chunksOf(response: Response): Promise<Array<{ bytes: Buffer; at: number }>> {
  const chunks: Array<{ bytes: Buffer; at: number }> = [];
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push({ bytes: Buffer.from(value), at: performance.now() });
  }
  return chunks;
}

async function activeRequests(slug: string): Promise<number> {
  const { models } = (await readJson(await fetch(`${server.url}/api/ps`))) as { models: Array<{ id: string; active_requests: number }> };
  return models.find((model) => model.id === slug)?.active_requests ?? 0;
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

async function durationOf(bytes: Buffer, name: string): Promise<number> {
  const path = join(server.dataDir, name);
  await writeFile(path, bytes);
  return (await probe(path)).duration;
}

for (const { slug, voice } of MODELS) {
  describe(`${slug}: stream_format "audio"`, () => {
    it('pcm streams with chunked transfer, a sample rate header, and the same samples as the whole wav', async () => {
      const streamed = await speech({ model: slug, voice, input: TEXT, response_format: 'pcm', stream_format: 'audio' });
      expect(streamed.headers.get('transfer-encoding')).toBe('chunked');
      expect(streamed.headers.get('content-type')).toBe('application/octet-stream');
      const rate = Number(streamed.headers.get('x-sample-rate'));
      expect(rate).toBe(slug === 'espeak' ? 22050 : 24000);
      const pcm = await bytesOf(streamed);
      // response_format=pcm streams even without stream_format (talkies clients).
      const plainPcm = await speech({ model: slug, voice, input: TEXT, response_format: 'pcm' });
      expect(plainPcm.headers.get('transfer-encoding')).toBe('chunked');
      expect(await bytesOf(plainPcm)).toEqual(pcm);
      const wholeWav = await bytesOf(await speech({ model: slug, voice, input: TEXT, response_format: 'wav' }));
      expect(wholeWav.readUInt32LE(40)).toBe(pcm.length);
      expect(wholeWav.subarray(44)).toEqual(pcm);
    });

    it('wav streams with a streaming header; its samples are the whole answer’s', async () => {
      const streamed = await speech({ model: slug, voice, input: TEXT, response_format: 'wav', stream_format: 'audio' });
      expect(streamed.headers.get('transfer-encoding')).toBe('chunked');
      const wav = await bytesOf(streamed);
      expect(wav.readUInt32LE(40)).toBe(0xffffffff);
      const whole = await bytesOf(await speech({ model: slug, voice, input: TEXT, response_format: 'wav' }));
      expect(wav.subarray(44)).toEqual(whole.subarray(44));
      expect(Math.abs((await durationOf(wav, `${slug}-streamed.wav`)) - (await durationOf(whole, `${slug}-whole.wav`)))).toBeLessThanOrEqual(0.02);
    });

    for (const format of ['mp3', 'opus', 'aac', 'flac'] as const) {
      it(`${format} streams through one encoder: a single file as long as the whole answer (within 20 ms)`, async () => {
        const streamed = await speech({ model: slug, voice, input: TEXT, response_format: format, stream_format: 'audio' });
        expect(streamed.headers.get('transfer-encoding')).toBe('chunked');
        const streamedBytes = await bytesOf(streamed);
        const wholeBytes = await bytesOf(await speech({ model: slug, voice, input: TEXT, response_format: format }));
        if (format === 'mp3') expect(streamedBytes).toEqual(wholeBytes);
        const streamedPath = join(server.dataDir, `${slug}-streamed.${format}`);
        const wholePath = join(server.dataDir, `${slug}-whole.${format}`);
        await writeFile(streamedPath, streamedBytes);
        await writeFile(wholePath, wholeBytes);
        const [a, b] = await Promise.all([probe(streamedPath), probe(wholePath)]);
        expect(a.codec).toBe(b.codec);
        if (format === 'flac') {
          // A streamed FLAC cannot state its sample count up front; decode to measure it.
          const { decodeAudio } = await import('@talkies/audio');
          const [x, y] = await Promise.all([decodeAudio(streamedPath), decodeAudio(wholePath)]);
          expect(Math.abs(x.samples.length - y.samples.length) / 16000).toBeLessThanOrEqual(0.02);
        } else {
          expect(Math.abs(a.duration - b.duration)).toBeLessThanOrEqual(0.02);
        }
      });
    }

    it('sends the first sentence before the last one is synthesised', async () => {
      const long = Array.from({ length: 24 }, (_, index) => `This is spoken sentence number ${index + 1}.`).join(' ');
      const response = await speech({ model: slug, voice, input: long, response_format: 'pcm', stream_format: 'audio' });
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      // The model is still busy with this request when its first audio has arrived.
      expect(await activeRequests(slug)).toBe(1);
      let total = first.value!.byteLength;
      let chunks = 1;
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        total += next.value.byteLength;
        chunks += 1;
      }
      expect(chunks).toBeGreaterThan(3);
      expect(total).toBeGreaterThan(first.value!.byteLength * 10);
      await until(async () => (await activeRequests(slug)) === 0, 2000);
    });
  });

  describe(`${slug}: stream_format "sse"`, () => {
    it('sends speech.audio.delta events with base64 audio, then speech.audio.done', async () => {
      const response = await speech({ model: slug, voice, input: TEXT, response_format: 'pcm', stream_format: 'sse' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream');
      const text = await response.text();
      const events = text
        .split('\n\n')
        .filter((block) => block.startsWith('data: '))
        .map((block) => JSON.parse(block.slice('data: '.length)) as { type: string; audio?: string; usage?: Record<string, number> });
      expect(events.length).toBeGreaterThan(2);
      expect(events.slice(0, -1).every((event) => event.type === 'speech.audio.delta' && typeof event.audio === 'string')).toBe(true);
      expect(events.at(-1)).toEqual({ type: 'speech.audio.done', usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } });
      const audio = Buffer.concat(events.slice(0, -1).map((event) => Buffer.from(event.audio!, 'base64')));
      const pcm = await bytesOf(await speech({ model: slug, voice, input: TEXT, response_format: 'pcm', stream_format: 'audio' }));
      expect(audio).toEqual(pcm);
    });

    it('through the official client: the delta audio is a playable mp3', async () => {
      const response = await client.audio.speech.create({ model: slug, voice, input: TEXT, response_format: 'mp3', stream_format: 'sse' });
      const events = (await response.text()).split('\n\n').filter(Boolean).map((block) => JSON.parse(block.slice(6)) as { type: string; audio?: string });
      const mp3 = Buffer.concat(events.filter((event) => event.type === 'speech.audio.delta').map((event) => Buffer.from(event.audio!, 'base64')));
      expect(await durationOf(mp3, `${slug}-sse.mp3`)).toBeGreaterThan(1);
    });
  });

  describe(`${slug}: a client that disconnects mid-stream`, () => {
    it('stops synthesis at once, frees the model, and the next request is served', async () => {
      const long = Array.from({ length: 60 }, (_, index) => `Sentence ${index + 1} of a text nobody will hear to the end.`).join(' ');
      const controller = new AbortController();
      const response = await speech({ model: slug, voice, input: long, response_format: 'mp3', stream_format: 'audio' }, controller.signal);
      const reader = response.body!.getReader();
      await reader.read();
      expect(await activeRequests(slug)).toBe(1);
      const backend = server.catalog.get(slug).backend as { inferenceCount?: number };
      controller.abort();
      const freedAfter = await until(async () => (await activeRequests(slug)) === 0, 1500);
      expect(freedAfter).toBeLessThan(1500);
      if (backend.inferenceCount !== undefined) {
        // Kokoro stopped: no further model calls once the request is gone.
        const count = backend.inferenceCount;
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(backend.inferenceCount).toBe(count);
      }
      const next = await bytesOf(await speech({ model: slug, voice, input: 'Still serving.', response_format: 'wav' }));
      expect(next.length).toBeGreaterThan(44);
    });
  });
}

describe('errors before the first byte are ordinary error answers', () => {
  it('unknown voice with stream_format audio or sse: 400 JSON listing voices', async () => {
    for (const stream_format of ['audio', 'sse']) {
      const response = await speech({ model: 'kokoro-82m', voice: 'af_nobody', input: 'Hi.', stream_format });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/json/);
      expect((await readJson(response)).detail).toMatch(/available voices: .*af_heart/);
    }
  });

  it('nothing to pronounce: 400, not a broken stream', async () => {
    const response = await speech({ model: 'kokoro-82m', input: '_ _', response_format: 'mp3', stream_format: 'audio' });
    expect(response.status).toBe(400);
    expect((await readJson(response)).error.param).toBe('input');
  });
});
