import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, SCRIPTED, probe, startTestServer, type TestServer, EXPECTED_CODECS as EXPECTED, readJson } from './test-server.js';

let server: TestServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer({ espeak: ESPEAK, 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } }, { maxLoadedModels: 2 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => server?.stop());

function speech(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}


describe('POST /v1/audio/speech with espeak through the official openai client', () => {
  for (const [format, expected] of Object.entries(EXPECTED)) {
    it(`speaks ${format}: ffprobe reads ${expected.codec}`, async () => {
      const response = await client.audio.speech.create({
        model: 'espeak',
        voice: 'alloy',
        input: 'Hello from talkies.',
        response_format: format as keyof typeof EXPECTED,
      });
      expect(response.headers.get('content-type')).toBe(expected.contentType);
      const bytes = Buffer.from(await response.arrayBuffer());
      const path = join(server.dataDir, `hello.${format}`);
      await writeFile(path, bytes);
      const info = await probe(path);
      expect(info.codec).toBe(expected.codec);
      expect(info.channels).toBe(1);
      expect(info.duration).toBeGreaterThan(0.5);
      expect(info.duration).toBeLessThan(5);
    });
  }

  it('speaks 16-bit FLAC like wav and pcm, whole and streamed', async () => {
    for (const stream_format of [undefined, 'audio']) {
      const response = await speech({ model: 'espeak', input: 'Sixteen bits, please.', response_format: 'flac', ...(stream_format ? { stream_format } : {}) });
      expect(response.status).toBe(200);
      const path = join(server.dataDir, `sixteen-${stream_format ?? 'whole'}.flac`);
      await writeFile(path, Buffer.from(await response.arrayBuffer()));
      const { probeAudio } = await import('@talkies/audio');
      expect(await probeAudio(path)).toMatchObject({ codec: 'flac', sampleFormat: 's16', channels: 1 });
    }
  });

  it('speaks raw pcm (s16le mono) with its sample rate in a header', async () => {
    const response = await client.audio.speech.create({ model: 'espeak', voice: 'alloy', input: 'Hello.', response_format: 'pcm' });
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    const rate = Number(response.headers.get('x-sample-rate'));
    expect(rate).toBeGreaterThan(8000);
    const bytes = await response.arrayBuffer();
    expect(bytes.byteLength % 2).toBe(0);
    expect(bytes.byteLength / 2 / rate).toBeGreaterThan(0.2);
  });

  it('defaults to mp3 and the default voice, and the clip grows with the text', async () => {
    const short = await speech({ model: 'espeak', input: 'One sentence.' });
    expect(short.status).toBe(200);
    expect(short.headers.get('content-type')).toBe('audio/mpeg');
    const shortPath = join(server.dataDir, 'short.mp3');
    await writeFile(shortPath, Buffer.from(await short.arrayBuffer()));
    const long = await speech({
      model: 'espeak',
      input: 'One sentence. And then a much longer second sentence, which keeps going for quite a while longer.',
    });
    const longPath = join(server.dataDir, 'long.mp3');
    await writeFile(longPath, Buffer.from(await long.arrayBuffer()));
    expect((await probe(longPath)).duration).toBeGreaterThan((await probe(shortPath)).duration * 2);
  });

  it('honours speed', async () => {
    const durations: number[] = [];
    for (const speed of [0.5, 1, 2]) {
      const response = await client.audio.speech.create({
        model: 'espeak', voice: 'alloy', input: 'The quick brown fox jumps over the lazy dog.', response_format: 'wav', speed,
      });
      const path = join(server.dataDir, `speed-${speed}.wav`);
      await writeFile(path, Buffer.from(await response.arrayBuffer()));
      durations.push((await probe(path)).duration);
    }
    expect(durations[0]!).toBeGreaterThan(durations[1]! * 1.5);
    expect(durations[2]!).toBeLessThan(durations[1]! * 0.75);
  });

  it('lists voices with the default marked', async () => {
    const { voices } = (await readJson(await fetch(`${server.url}/v1/audio/voices`))) as {
      voices: { voice: string; model: string; default: boolean }[];
    };
    expect(voices.every((voice) => voice.model === 'espeak')).toBe(true);
    expect(voices.filter((voice) => voice.default).map((voice) => voice.voice)).toEqual(['en-us']);
    expect(voices.map((voice) => voice.voice)).toEqual(expect.arrayContaining(['alloy', 'en-gb', 'fr-fr', 'de']));
  });
});

describe('speech check order and status codes', () => {
  it('404 for an unknown model', async () => {
    const response = await speech({ model: 'nope', input: 'hi' });
    expect(response.status).toBe(404);
  });

  it('400 for an ASR model, pointing at the transcription route', async () => {
    const response = await speech({ model: 'scripted-a', input: 'hi' });
    expect(response.status).toBe(400);
    expect((await readJson(response)).detail).toBe("model 'scripted-a' is not a TTS model — try /v1/audio/transcriptions");
  });

  it('400 for an unknown voice, listing voices', async () => {
    const response = await speech({ model: 'espeak', input: 'hi', voice: 'this_voice_does_not_exist' });
    expect(response.status).toBe(400);
    const body = await readJson(response);
    expect(body.error.param).toBe('voice');
    expect(body.detail).toMatch(/unknown voice 'this_voice_does_not_exist'.*alloy/);
  });

  it('400 for an unknown response_format, listing the valid ones', async () => {
    const response = await speech({ model: 'espeak', input: 'hi', response_format: 'ogg' });
    expect(response.status).toBe(400);
    expect((await readJson(response)).detail).toMatch(/mp3, opus, aac, flac, wav, pcm/);
  });

  it('400 for blank input', async () => {
    const response = await speech({ model: 'espeak', input: '   ' });
    expect(response.status).toBe(400);
    expect((await readJson(response)).detail).toMatch(/input text is empty/);
  });

  it('422 for speed outside 0.25..4 and for a missing input', async () => {
    for (const speed of [0.1, 4.5]) {
      const response = await speech({ model: 'espeak', input: 'hi', speed });
      expect(response.status, String(speed)).toBe(422);
      expect((await readJson(response)).error.param).toBe('speed');
    }
    expect((await speech({ model: 'espeak' })).status).toBe(422);
  });

  it('400 for a body that is not JSON', async () => {
    const response = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ',
    });
    expect(response.status).toBe(400);
    const body = await readJson(response);
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.detail).toMatch(/not valid JSON/);
  });

  it('accepts instructions and says it ignored them', async () => {
    const response = await speech({ model: 'espeak', input: 'Calm words.', instructions: 'Speak calmly.', response_format: 'wav' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-talkies-warning')).toMatch(/instructions/);
  });
});
