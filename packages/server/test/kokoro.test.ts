/**
 * Kokoro through the server with the official openai client, for both seed slugs: the
 * generated models of `pnpm fixtures` (random weights, real tensor names, real voice
 * tables) in the onnx-community and the nvidia layouts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtures } from '@talkies/engine-kokoro/testing';
import { SCRIPTED, probe, startTestServer, type TestServer, EXPECTED_CODECS as EXPECTED, refusal } from './test-server.js';

let server: TestServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer(
    {
      'kokoro-82m': { repo: 'onnx-community/Kokoro-82M-v1.0-ONNX', executor: 'kokoro', modality: 'tts', default_voice: 'af_heart', engineOptions: { threads: 1 } },
      'kokoro-82m-nvidia': { repo: 'nvidia/kokoro-82M-onnx-opt', executor: 'kokoro_nvidia', modality: 'tts', default_voice: 'af_heart', engineOptions: { threads: 1 } },
      'scripted-a': { repo: 'fixtures/a', ...SCRIPTED },
    },
    { maxLoadedModels: 2 },
  );
  await writeFixtures(server.dataDir);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => server?.stop());


async function wav(model: string, voice: string | undefined, input: string): Promise<Buffer> {
  const body: Record<string, unknown> = { model, input, response_format: 'wav' };
  if (voice !== undefined) body.voice = voice;
  const response = await fetch(`${server.url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}


for (const slug of ['kokoro-82m', 'kokoro-82m-nvidia']) {
  describe(`${slug} through the official openai client`, () => {
    for (const [format, expected] of Object.entries(EXPECTED)) {
      it(`speaks ${format}: ffprobe reads ${expected.codec}`, async () => {
        const response = await client.audio.speech.create({ model: slug, voice: 'af_heart', input: 'Hello from Kokoro.', response_format: format as keyof typeof EXPECTED });
        expect(response.headers.get('content-type')).toBe(expected.contentType);
        const path = join(server.dataDir, `${slug}.${format}`);
        await writeFile(path, Buffer.from(await response.arrayBuffer()));
        const info = await probe(path);
        expect(info.codec).toBe(expected.codec);
        expect(info.channels).toBe(1);
        if (format === 'wav') expect(info.sampleRate).toBe(24000);
        expect(info.duration).toBeGreaterThan(0.3);
      });
    }

    it('speaks raw pcm at 24 kHz', async () => {
      const response = await client.audio.speech.create({ model: slug, voice: 'af_heart', input: 'Raw samples.', response_format: 'pcm' });
      expect(response.headers.get('x-sample-rate')).toBe('24000');
      const bytes = await response.arrayBuffer();
      expect(bytes.byteLength % 2).toBe(0);
      expect(bytes.byteLength).toBeGreaterThan(24000 * 2 * 0.3);
    });

    it('uses af_heart when no voice is given', async () => {
      expect(await wav(slug, undefined, 'Default voice.')).toEqual(await wav(slug, 'af_heart', 'Default voice.'));
      expect(await wav(slug, 'af_bella', 'Default voice.')).not.toEqual(await wav(slug, 'af_heart', 'Default voice.'));
    });

    it('400 for an unknown voice, listing the voices', async () => {
      const error = await refusal(client.audio.speech.create({ model: slug, voice: 'af_nobody', input: 'Hi.' }));
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/unknown voice 'af_nobody'.*available voices: .*af_heart/);
    });

    it('400 for empty input', async () => {
      const error = await refusal(client.audio.speech.create({ model: slug, voice: 'af_heart', input: '  ' }));
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/input text is empty/);
    });

    it('blends voices, equally and by weight; a blend with an unknown voice is a 400 that lists the voices', async () => {
      const bella = await wav(slug, 'af_bella', 'Blended voice.');
      const equal = await wav(slug, 'af_bella+af_sky', 'Blended voice.');
      const weighted = await wav(slug, 'af_bella(2)+af_sky(1)', 'Blended voice.');
      expect(equal).not.toEqual(bella);
      expect(weighted).not.toEqual(equal);
      const error = await refusal(client.audio.speech.create({ model: slug, voice: 'af_bella+af_nobody', input: 'Hi.' }));
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/'af_nobody'.*available voices: .*af_sky/);
    });

    it('accepts instructions, ignores them and says so', async () => {
      const response = await client.audio.speech.create({ model: slug, voice: 'af_heart', input: 'Calm words.', instructions: 'Speak calmly.', response_format: 'wav' });
      expect(response.headers.get('x-talkies-warning')).toMatch(/instructions/);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(await wav(slug, 'af_heart', 'Calm words.'));
    });

    it('audio.speech with a streaming response: chunks arrive while the engine is still synthesising', async () => {
      const text = Array.from({ length: 20 }, (_, index) => `Streaming sentence number ${index + 1}.`).join(' ');
      const backend = server.catalog.get(slug).backend as unknown as { inferenceCount: number };
      const countBefore = backend.inferenceCount;
      // The JavaScript client's form of Python's audio.speech.with_streaming_response: the raw, unread Response.
      const response = await client.audio.speech.create({ model: slug, voice: 'af_heart', input: text, response_format: 'pcm', stream_format: 'audio' }).asResponse();
      expect(response.headers.get('transfer-encoding')).toBe('chunked');
      const reader = response.body!.getReader();
      const first = await reader.read();
      const callsAtFirstChunk = backend.inferenceCount - countBefore;
      let chunks = 1;
      while (!(await reader.read()).done) chunks += 1;
      const callsInAll = backend.inferenceCount - countBefore;
      expect(first.value!.byteLength).toBeGreaterThan(0);
      expect(callsInAll).toBeGreaterThanOrEqual(20);
      // When the first audio arrived, most sentences had not been synthesised yet.
      expect(callsAtFirstChunk).toBeLessThan(callsInAll / 2);
      expect(chunks).toBeGreaterThanOrEqual(10);
    });
  });
}

describe('the speech route and Kokoro models', () => {
  it('400 for the ASR slug on the speech route', async () => {
    const error = await refusal(client.audio.speech.create({ model: 'scripted-a', voice: 'af_heart', input: 'Hi.' }));
    expect(error.status).toBe(400);
    expect(error.message).toContain("model 'scripted-a' is not a TTS model — try /v1/audio/transcriptions");
  });

  it('lists the voices of both slugs from their snapshots: 41 each, no ja or zh, af_heart the default', async () => {
    const { voices } = (await (await fetch(`${server.url}/v1/audio/voices`)).json()) as {
      voices: Array<{ voice: string; model: string; default: boolean; language?: string }>;
    };
    for (const slug of ['kokoro-82m', 'kokoro-82m-nvidia']) {
      const mine = voices.filter((voice) => voice.model === slug);
      expect(mine).toHaveLength(41);
      expect(mine.some((voice) => /^[jz]/.test(voice.voice))).toBe(false);
      expect(mine.filter((voice) => voice.default).map((voice) => voice.voice)).toEqual(['af_heart']);
      expect(new Set(mine.map((voice) => voice.language))).toEqual(new Set(['en-US', 'en-GB', 'es', 'fr', 'hi', 'it', 'pt-BR']));
    }
  });

  it('speaks every catalog language, each through its own espeak-ng voice', async () => {
    const samples: Array<[string, string]> = [
      ['ef_dora', 'Hola, ¿cómo estás?'],
      ['ff_siwis', 'Bonjour le monde.'],
      ['hf_alpha', 'नमस्ते दुनिया।'],
      ['if_sara', 'Ciao mondo.'],
      ['pf_dora', 'Olá mundo.'],
      ['bf_emma', 'Hello world.'],
    ];
    for (const [voice, input] of samples) {
      const bytes = await wav('kokoro-82m', voice, input);
      expect(bytes.length, voice).toBeGreaterThan(44 + 24000 * 2 * 0.2);
    }
  });
});
