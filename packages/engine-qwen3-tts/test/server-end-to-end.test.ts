/**
 * Qwen3-TTS through the server with the official openai client, on the generated models
 * of `pnpm fixtures` (one per mode, random weights, the real file layout, tensor names and
 * special ids): the seed's test lists (talkies-behaviour §2.4 and §2.7) case by case,
 * every format, streaming, the sampling fields and a client that leaves.
 */
import { mkdir, copyFile, symlink, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtures, writeModel, wavFile, referenceRecording } from '../src/testing/index.js';
import { probe, readJson, startTestServer, type TestServer, EXPECTED_CODECS as EXPECTED, refusal } from '@talkies/server/testing';

let server: TestServer;
let client: OpenAI;
const QWEN = { executor: 'qwen3_tts', modality: 'tts', default_language: 'English', engineOptions: { threads: 1 } };

beforeAll(async () => {
  server = await startTestServer(
    {
      'qwen3-tts-0.6b': { ...QWEN, repo: 'fixtures/base', qwen3_mode: 'base', default_voice: 'alloy' },
      'qwen3-tts-0.6b-custom': { ...QWEN, repo: 'fixtures/Qwen3-TTS-12Hz-0.6B-CustomVoice-ONNX', qwen3_mode: 'custom_voice', default_voice: 'Vivian' },
      'qwen3-tts-1.7b-custom': { ...QWEN, repo: 'fixtures/Qwen3-TTS-12Hz-1.7B-CustomVoice-ONNX', qwen3_mode: 'custom_voice', default_voice: 'Vivian' },
      'qwen3-tts-1.7b-design': { ...QWEN, repo: 'fixtures/design', qwen3_mode: 'voice_design', default_voice: 'design' },
      'qwen3-tts-long': { ...QWEN, repo: 'fixtures/long', qwen3_mode: 'custom_voice', default_voice: 'Vivian' },
    },
    { maxLoadedModels: 3 },
  );
  await writeFixtures(server.dataDir);
  // A model whose codec_eos never comes first: it speaks until max_new_tokens.
  await writeModel(join(server.dataDir, 'models', 'qwen3-tts-long'), 'custom_voice', '1b7', { eosAfter: 100_000 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => server?.stop());

function speech(body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${server.url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
}

async function wav(body: Record<string, unknown>): Promise<Buffer> {
  const response = await speech({ response_format: 'wav', ...body });
  expect(response.status, await response.clone().text()).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}


async function voicesOf(slug: string): Promise<Array<{ voice: string; origin?: string; default: boolean; language?: string }>> {
  const { voices } = (await readJson(await fetch(`${server.url}/v1/audio/voices`))) as { voices: Array<{ voice: string; model: string; origin?: string; default: boolean }> };
  return voices.filter((voice) => voice.model === slug);
}

const customVoices = () => join(server.dataDir, 'custom-voices');
const GREEDY = { do_sample: false };

describe('voice catalogs (seed §2.7 test 1, §2.4 tests 1-3)', () => {
  it('custom voice lists the nine preset speakers; design lists the sentinel; base lists its built-in voices', async () => {
    expect((await voicesOf('qwen3-tts-1.7b-custom')).map((voice) => voice.voice).sort().join(',')).toBe('Aiden,Dylan,Eric,Ono_Anna,Ryan,Serena,Sohee,Uncle_Fu,Vivian');
    expect((await voicesOf('qwen3-tts-1.7b-design')).map((voice) => voice.voice)).toEqual(['design']);
    const base = await voicesOf('qwen3-tts-0.6b');
    expect(base.filter((voice) => voice.origin === 'builtin').map((voice) => voice.voice)).toEqual(['alloy', 'echo', 'fable']);
    expect(base.find((voice) => voice.voice === 'alloy')?.default).toBe(true);
  });

  it('custom voices are found live, nested, and shadow built-in ones', async () => {
    await mkdir(join(customVoices(), 'foo', 'bar'), { recursive: true });
    await writeFile(join(customVoices(), 'foo', 'bar', 'test_clone.wav'), wavFile(referenceRecording(7), 24000));
    let voices = await voicesOf('qwen3-tts-0.6b');
    expect(voices.find((voice) => voice.voice === 'foo/bar/test_clone')?.origin).toBe('custom');
    await writeFile(join(customVoices(), 'alloy.wav'), wavFile(referenceRecording(8), 24000));
    voices = await voicesOf('qwen3-tts-0.6b');
    expect(voices.filter((voice) => voice.voice === 'alloy').map((voice) => voice.origin)).toEqual(['custom']);
    await rm(join(customVoices(), 'alloy.wav'));
    expect((await voicesOf('qwen3-tts-0.6b')).find((voice) => voice.voice === 'alloy')?.origin).toBe('builtin');
  });

  it('a symbolic link that leaves the custom-voices folder is not a voice', async () => {
    const outside = join(tmpdir(), `qwen3-outside-${process.pid}.wav`);
    await writeFile(outside, wavFile(referenceRecording(9), 24000));
    await mkdir(customVoices(), { recursive: true });
    await symlink(outside, join(customVoices(), 'escape.wav'));
    await copyFile(outside, join(customVoices(), 'inside-target.wav'));
    await symlink(join(customVoices(), 'inside-target.wav'), join(customVoices(), 'inside-link.wav'));
    const voices = (await voicesOf('qwen3-tts-0.6b')).map((voice) => voice.voice);
    expect(voices).not.toContain('escape');
    expect(voices).toContain('inside-link');
    const error = await refusal(client.audio.speech.create({ model: 'qwen3-tts-0.6b', voice: 'escape', input: 'Hi.' }));
    expect(error.status).toBe(400);
    await rm(outside);
  });
});

describe('every format through the official openai client', () => {
  for (const [format, expected] of Object.entries(EXPECTED)) {
    it(`custom voice speaks ${format}`, async () => {
      const response = await client.audio.speech.create({
        model: 'qwen3-tts-0.6b-custom',
        voice: 'Ryan',
        input: 'Hello from Qwen.',
        response_format: format as keyof typeof EXPECTED,
        // Seeded (a talkies field the client passes through): an unseeded draw on the generated weights may end after a few frames.
        // @ts-expect-error: not in OpenAI's types
        seed: 5,
      });
      expect(response.headers.get('content-type')).toBe(expected.contentType);
      const path = join(server.dataDir, `qwen3.${format}`);
      await writeFile(path, Buffer.from(await response.arrayBuffer()));
      const info = await probe(path);
      expect(info.codec).toBe(expected.codec);
      if (format === 'wav') expect(info.sampleRate).toBe(24000);
      expect(info.duration).toBeGreaterThan(1);
    });
  }

  it('pcm is streamed at 24 kHz with its first chunk well before the end', async () => {
    // Seeded: an unseeded draw on the generated weights may end after a few frames.
    const response = await speech({ model: 'qwen3-tts-0.6b-custom', voice: 'Ryan', input: 'Streaming from the first frames.', response_format: 'pcm', seed: 5 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sample-rate')).toBe('24000');
    const reader = response.body!.getReader();
    const arrivals: Array<{ bytes: number; at: number }> = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push({ bytes: value.byteLength, at: performance.now() });
    }
    const total = arrivals.reduce((sum, chunk) => sum + chunk.bytes, 0);
    expect(total % 2).toBe(0);
    expect(total).toBeGreaterThan(24000 * 2);
    expect(arrivals.length).toBeGreaterThan(2);
    // The first chunk is a few frames (4 × 80 ms), not the whole clip.
    expect(arrivals[0]!.bytes).toBeLessThan(total / 2);
  });

  it('wav and mp3 stream too (stream_format audio), and sse carries the same audio', async () => {
    const streamed = await speech({ model: 'qwen3-tts-1.7b-design', instructions: 'A calm voice.', input: 'Streamed.', response_format: 'wav', stream_format: 'audio', seed: 5 });
    expect(streamed.status).toBe(200);
    const streamedBytes = Buffer.from(await streamed.arrayBuffer());
    expect(streamedBytes.subarray(0, 4).toString()).toBe('RIFF');
    const sse = await speech({ model: 'qwen3-tts-1.7b-design', instructions: 'A calm voice.', input: 'Streamed.', response_format: 'pcm', stream_format: 'sse', seed: 5 });
    const events = (await sse.text()).split('\n\n').filter(Boolean).map((block) => JSON.parse(block.slice(6)) as { type: string; audio?: string });
    const pcm = Buffer.concat(events.filter((event) => event.type === 'speech.audio.delta').map((event) => Buffer.from(event.audio!, 'base64')));
    expect(events.at(-1)!.type).toBe('speech.audio.done');
    expect(pcm.equals(streamedBytes.subarray(44))).toBe(true);
  });
});

describe('modes (seed §2.7)', () => {
  it('base: the default voice alloy (with a transcript: in-context cloning) speaks, with instructions', async () => {
    const audio = await wav({ model: 'qwen3-tts-0.6b', voice: 'alloy', input: 'Hello world.', instructions: 'Speak clearly.', seed: 5 });
    expect(audio.subarray(0, 4).toString()).toBe('RIFF');
    expect(audio.length).toBeGreaterThan(4096);
  });

  it('base: a custom voice without a transcript falls back to the x-vector (200, not 400)', async () => {
    await mkdir(join(customVoices(), 'e2e_modes'), { recursive: true });
    await writeFile(join(customVoices(), 'e2e_modes', 'clone_xvec.wav'), wavFile(referenceRecording(21), 24000));
    await writeFile(join(customVoices(), 'e2e_modes', 'clone_xvec.lang'), 'English');
    expect((await voicesOf('qwen3-tts-0.6b')).find((voice) => voice.voice === 'e2e_modes/clone_xvec')?.origin).toBe('custom');
    const audio = await wav({ model: 'qwen3-tts-0.6b', voice: 'e2e_modes/clone_xvec', input: 'The quick brown fox.', ...GREEDY });
    expect(audio.length).toBeGreaterThan(4096);
  });

  it('base: a transcript (.txt) switches to in-context cloning, which changes the audio', async () => {
    const folder = join(customVoices(), 'e2e_modes');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'clone_icl.wav'), wavFile(referenceRecording(21), 24000));
    const before = await wav({ model: 'qwen3-tts-0.6b', voice: 'e2e_modes/clone_icl', input: 'The quick brown fox.', ...GREEDY });
    await writeFile(join(folder, 'clone_icl.txt'), 'You are just a line of code.');
    const after = await wav({ model: 'qwen3-tts-0.6b', voice: 'e2e_modes/clone_icl', input: 'The quick brown fox.', ...GREEDY });
    expect(after.length).toBeGreaterThan(4096);
    expect(after.equals(before)).toBe(false);
  });

  it('base: the voice decides the audio, and its .lang the language', async () => {
    const alloy = await wav({ model: 'qwen3-tts-0.6b', voice: 'alloy', input: 'Same words.', ...GREEDY });
    const echo = await wav({ model: 'qwen3-tts-0.6b', voice: 'echo', input: 'Same words.', ...GREEDY });
    expect(alloy.equals(echo)).toBe(false);
    const folder = join(customVoices(), 'lang');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'v.wav'), wavFile(referenceRecording(30), 24000));
    await writeFile(join(folder, 'v.lang'), 'English');
    const english = await wav({ model: 'qwen3-tts-0.6b', voice: 'lang/v', input: 'Same words.', ...GREEDY });
    await writeFile(join(folder, 'v.lang'), 'Chinese');
    const chinese = await wav({ model: 'qwen3-tts-0.6b', voice: 'lang/v', input: 'Same words.', ...GREEDY });
    expect(chinese.equals(english)).toBe(false);
  });

  it('custom voice: speakers by name (any case), language from the request, instructions honoured on 1.7B', async () => {
    const ryan = await wav({ model: 'qwen3-tts-1.7b-custom', voice: 'Ryan', input: 'Hello.', language: 'English', ...GREEDY });
    expect((await wav({ model: 'qwen3-tts-1.7b-custom', voice: 'ryan', input: 'Hello.', language: 'English', ...GREEDY })).equals(ryan)).toBe(true);
    expect((await wav({ model: 'qwen3-tts-1.7b-custom', voice: 'Serena', input: 'Hello.', language: 'English', ...GREEDY })).equals(ryan)).toBe(false);
    expect((await wav({ model: 'qwen3-tts-1.7b-custom', voice: 'Ryan', input: 'Hello.', language: 'Japanese', ...GREEDY })).equals(ryan)).toBe(false);
    const calm = await wav({ model: 'qwen3-tts-1.7b-custom', voice: 'Ryan', input: 'Hello.', language: 'English', instructions: 'Speak calmly and clearly.', ...GREEDY });
    expect(calm.equals(ryan)).toBe(false);
  });

  it('custom voice 0.6B: instructions are accepted and dropped, with a warning header', async () => {
    const plain = await speech({ model: 'qwen3-tts-0.6b-custom', voice: 'Ryan', input: 'Hello.', response_format: 'wav', ...GREEDY });
    const instructed = await speech({ model: 'qwen3-tts-0.6b-custom', voice: 'Ryan', input: 'Hello.', response_format: 'wav', instructions: 'Speak angrily.', ...GREEDY });
    expect(instructed.status).toBe(200);
    expect(instructed.headers.get('x-talkies-warning')).toMatch(/instructions/);
    expect(Buffer.from(await instructed.arrayBuffer()).equals(Buffer.from(await plain.arrayBuffer()))).toBe(true);
  });

  it('voice design: the voice comes from instructions; the voice field is ignored', async () => {
    // A short description: the fixture's tokenizer spells most text byte by byte, and its talker ends every generation by position 56.
    const body = { model: 'qwen3-tts-1.7b-design', input: 'A designed voice.', instructions: 'A male voice.', language: 'English', ...GREEDY };
    const designed = await wav(body);
    expect(designed.length).toBeGreaterThan(4096);
    expect((await wav({ ...body, voice: 'anything' })).equals(designed)).toBe(true);
    expect((await wav({ ...body, instructions: 'A very deep, slow voice.' })).equals(designed)).toBe(false);
  });

  it('voice design: missing, empty or blank instructions get 400', async () => {
    for (const instructions of [undefined, '', '   ']) {
      const error = await refusal(client.audio.speech.create({ model: 'qwen3-tts-1.7b-design', voice: 'design', input: 'Hi.', ...(instructions === undefined ? {} : { instructions }) }));
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/instructions/);
    }
  });
});

describe('the seed\'s error cases (§2.4, §2.7)', () => {
  it('unknown voice → 400 listing the voices; empty input → 400; unknown language → 400', async () => {
    const unknown = await refusal(client.audio.speech.create({ model: 'qwen3-tts-0.6b', voice: 'does/not/exist', input: 'Hi.' }));
    expect(unknown.status).toBe(400);
    expect(unknown.message).toMatch(/available: .*alloy/);
    expect((await refusal(client.audio.speech.create({ model: 'qwen3-tts-0.6b-custom', voice: 'Nobody', input: 'Hi.' }))).status).toBe(400);
    expect((await refusal(client.audio.speech.create({ model: 'qwen3-tts-0.6b', voice: 'alloy', input: '   ' }))).status).toBe(400);
    const language = await speech({ model: 'qwen3-tts-0.6b-custom', voice: 'Ryan', input: 'Hi.', language: 'Klingon' });
    expect(language.status).toBe(400);
    expect((await readJson(language)).detail).toMatch(/English/);
  });

  it('out-of-range sampling fields → 422 naming the range', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ temperature: 5.0 }, /temperature must be between 0.0 and 2.0/],
      [{ top_k: 0 }, /top_k must be between 1 and 1000/],
      [{ top_p: 1.5 }, /top_p must be between 0.0 and 1.0/],
      [{ repetition_penalty: 0.1 }, /repetition_penalty must be between 0.5 and 2.0/],
      [{ max_new_tokens: 4096 }, /max_new_tokens must be between 1 and 2048/],
      [{ do_sample: 'yes' }, /do_sample must be true or false/],
      [{ seed: -1 }, /seed must be between 0 and 4294967295/],
    ];
    for (const [fields, message] of cases) {
      const response = await speech({ model: 'qwen3-tts-1.7b-custom', voice: 'Ryan', input: 'Hi.', ...fields });
      expect(response.status, JSON.stringify(fields)).toBe(422);
      expect((await readJson(response)).detail).toMatch(message);
    }
  });
});

describe('sampling fields (seed §2.7 test 11)', () => {
  it('the seed\'s extra fields through extra_body are accepted', async () => {
    const response = await client.audio.speech.create({
      model: 'qwen3-tts-1.7b-custom',
      voice: 'Ryan',
      input: 'Sampling fields.',
      response_format: 'wav',
      // @ts-expect-error: talkies' non-OpenAI fields, sent the way the seed's README shows (extra_body)
      extra_body: { temperature: 0.7, top_k: 30, top_p: 0.95, repetition_penalty: 1.1, max_new_tokens: 1024, do_sample: false, language: 'English' },
    });
    expect(Buffer.from(await response.arrayBuffer()).length).toBeGreaterThan(4096);
  });

  it('a seed repeats a sampled request exactly; without one two requests differ; max_new_tokens caps the length', async () => {
    const body = { model: 'qwen3-tts-1.7b-custom', voice: 'Ryan', input: 'Sampled speech.', temperature: 1.0, top_k: 50 };
    const first = await wav({ ...body, seed: 1234 });
    expect((await wav({ ...body, seed: 1234 })).equals(first)).toBe(true);
    expect((await wav({ ...body, seed: 1235 })).equals(first)).toBe(false);
    expect((await wav(body)).equals(await wav(body))).toBe(false);
    const capped = await wav({ ...body, seed: 1234, max_new_tokens: 3 });
    expect(capped.length).toBe(44 + 3 * 1920 * 2);
  });
});

describe('a client that disconnects mid-stream', () => {
  it('stops generation at once, frees the model, and the next request is served', async () => {
    const controller = new AbortController();
    const response = await speech({ model: 'qwen3-tts-long', voice: 'Ryan', input: 'A long text nobody hears to the end.', response_format: 'pcm' }, controller.signal);
    const reader = response.body!.getReader();
    await reader.read();
    const backend = server.catalog.get('qwen3-tts-long').backend as unknown as { framesGenerated: number };
    controller.abort();
    const started = performance.now();
    let frames = -1;
    // The worker reports the stopped generation's frames once it has stopped.
    while (performance.now() - started < 3000) {
      frames = backend.framesGenerated;
      if (frames > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThan(2048);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(backend.framesGenerated).toBe(frames);
    const next = await wav({ model: 'qwen3-tts-long', voice: 'Ryan', input: 'Still serving.', max_new_tokens: 4 });
    expect(next.length).toBe(44 + 4 * 1920 * 2);
  });
});
