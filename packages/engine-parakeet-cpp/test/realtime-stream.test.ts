/**
 * A cache-aware streaming model behind /v1/realtime: the live path feeds the engine's
 * streaming session (openStream) as audio arrives, so each word comes out as soon as the
 * model finalizes it, before the turn is committed; the turn's `completed` text equals the
 * whole-file transcription. libparakeet is the stand-in compiled by the test; its "speech"
 * is tone bursts (which Silero does not call speech), so turns are committed by the client
 * (turn_detection null). Driven by the official openai client's realtime class.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { bursts, hasCompiler, standInLibrary, temporaryDirectory, writeStandInModel } from './support/stand-in.js';
import { wavFile } from '@talkies/testkit';

const NEMOTRON = 'nemotron-3.5-asr-0.6b';
const NEMOTRON_FILE = 'nemotron-3.5-asr-streaming-0.6b-q8_0.gguf';

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(!hasCompiler)('a streaming parakeet.cpp model behind /v1/realtime', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let server: TestServer;
  let openai: OpenAI;
  // Three words: two close together, one after a pause.
  const audio = bursts(3, [[0.16, 0.48], [0.64, 0.96], [2.0, 2.4]]);

  beforeAll(async () => {
    data = await temporaryDirectory('parakeet-realtime-');
    await writeStandInModel(join(data.path, 'models', NEMOTRON), NEMOTRON_FILE, { nemotron: true, streaming: true });
    server = await startTestServer(
      {
        [NEMOTRON]: {
          repo: 'mudler/parakeet-cpp-gguf', executor: 'parakeet_cpp', modality: 'asr', gguf_file: NEMOTRON_FILE,
          default_source_lang: 'auto', engineOptions: { library: standInLibrary({ abi: 10 }), download: false },
        },
      },
      { dataDir: data.path },
    );
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await data?.remove();
  });

  it('sends each word as the engine session finalizes it, before the commit; completed equals the whole file', async () => {
    const whole = await openai.audio.transcriptions.create({ file: await toFile(wavFile(audio), 'speech.wav'), model: NEMOTRON });
    const port = Number(new URL(server.url).port);
    const rt = new OpenAIRealtimeWS({ intent: 'transcription', options: { createConnection: () => connect(port, '127.0.0.1') } }, openai);
    const events: Array<{ type: string; [key: string]: any }> = [];
    rt.on('event', (event) => events.push(event as never));
    rt.on('error', (error) => events.push({ type: 'client-error', message: error.message }));
    await new Promise<void>((resolve, reject) => {
      rt.socket.once('open', () => resolve());
      rt.socket.once('error', reject);
    });
    const of = (type: string) => events.filter((event) => event.type === type);
    rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 16000 as 24000 /* talkies takes 8–48 kHz; the SDK types say 24000 */ }, turn_detection: null } } } });
    const pcm = (samples: Float32Array) => {
      const bytes = Buffer.alloc(samples.length * 2);
      samples.forEach((sample, index) => bytes.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(sample * 32768))), index * 2));
      return bytes.toString('base64');
    };
    // The first two words and the pause after them (1.6 s), in 20 ms appends.
    for (let offset = 0; offset < 1.6 * 16000; offset += 320) rt.send({ type: 'input_audio_buffer.append', audio: pcm(audio.subarray(offset, offset + 320)) });
    const said = () => of('conversation.item.input_audio_transcription.delta').map((event) => event.delta).join('').trim();
    // No commit yet: the words come from the session as the model closes them.
    await until(() => said() === 'alpha bravo', 'the first two words from the engine session');
    expect(of('input_audio_buffer.committed')).toHaveLength(0);
    for (let offset = 1.6 * 16000; offset < audio.length; offset += 320) rt.send({ type: 'input_audio_buffer.append', audio: pcm(audio.subarray(offset, offset + 320)) });
    rt.send({ type: 'input_audio_buffer.commit' });
    await until(() => of('conversation.item.input_audio_transcription.completed').length === 1 || of('client-error').length > 0, 'completed');
    expect(of('client-error')).toEqual([]);
    const completed = of('conversation.item.input_audio_transcription.completed')[0]!;
    expect(completed.transcript).toBe(whole.text);
    expect(of('conversation.item.input_audio_transcription.delta').map((event) => event.delta).join('').trim()).toBe(completed.transcript);
    rt.close();
    await until(() => (server.catalog.pool.usage().find((model) => model.slug === NEMOTRON)?.active ?? 0) === 0, 'the lease to be released');
  });

  it('stream=true with include[]=logprobs: the engine\'s word confidences as logprobs', async () => {
    const stream = await openai.audio.transcriptions.create({ file: await toFile(wavFile(audio), 'speech.wav'), model: NEMOTRON, stream: true, include: ['logprobs'] });
    const events: Array<{ type: string; delta?: string; text?: string; logprobs?: Array<{ token: string; logprob: number; bytes: number[] }> }> = [];
    for await (const event of stream) events.push(event as never);
    const done = events.at(-1)!;
    expect(done).toMatchObject({ type: 'transcript.text.done', text: 'alpha bravo charlie' });
    expect(done.logprobs!.map((entry) => entry.token)).toEqual(['alpha', 'bravo', 'charlie']);
    for (const entry of done.logprobs!) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.logprob).toBeGreaterThan(Math.log(0.5));
      expect(Buffer.from(entry.bytes).toString('utf8')).toBe(entry.token);
    }
    const deltas = events.filter((event) => event.type === 'transcript.text.delta');
    expect(deltas.flatMap((delta) => delta.logprobs ?? []).map((entry) => entry.token)).toEqual(['alpha', 'bravo', 'charlie']);
  });
});
