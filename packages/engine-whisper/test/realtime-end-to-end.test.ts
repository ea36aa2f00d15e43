/**
 * The Whisper engine behind the realtime WebSocket, driven by the official openai client's
 * realtime class: re-transcription partials with a real engine, and a committed turn
 * whose `completed` text is exactly the whole-file transcription of the same samples. The
 * model is generated (random weights, real layout, deterministic).
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { audioDirectory, hasShared, readJfk } from './support/shared-assets.js';
import { generatedModels } from './support/whisper-fixtures.js';

const TINY = 'whisper-test-tiny';

function pcm16(samples: Float32Array): string {
  const bytes = Buffer.alloc(samples.length * 2);
  for (let index = 0; index < samples.length; index++) bytes.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[index]! * 32768))), index * 2);
  return bytes.toString('base64');
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(!hasShared('audio/jfk.wav'))('the Whisper engine behind /v1/realtime, driven by the openai realtime client', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let server: TestServer;
  let openai: OpenAI;
  let jfk: Float32Array;

  beforeAll(async () => {
    models = await generatedModels([TINY]);
    jfk = readJfk();
    server = await startTestServer(
      { [TINY]: { repo: `talkies-fixtures/${TINY}`, executor: 'whisper', modality: 'asr', engineOptions: { temperatureFallback: false, download: false } } },
      { dataDir: models.dataDir },
    );
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await models?.remove();
  });

  function session() {
    const port = Number(new URL(server.url).port);
    const rt = new OpenAIRealtimeWS({ intent: 'transcription', options: { createConnection: () => connect(port, '127.0.0.1') } }, openai);
    const events: Array<{ type: string; [key: string]: any }> = [];
    rt.on('event', (event) => events.push(event as never));
    rt.on('error', (error) => events.push({ type: 'client-error', message: error.message }));
    const opened = new Promise<void>((resolve, reject) => {
      rt.socket.once('open', () => resolve());
      rt.socket.once('error', reject);
    });
    return { rt, events, opened, of: (type: string) => events.filter((event) => event.type === type) };
  }

  it('a committed turn: .completed is the whole-file transcription of the same samples', async () => {
    const whole = await openai.audio.transcriptions.create({ file: await toFile(await readFile(join(audioDirectory, 'jfk.wav')), 'jfk.wav'), model: TINY, language: 'en' });
    const live = session();
    await live.opened;
    // 16 kHz in: the samples reach the engine as the file's decoder gives them.
    live.rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 16000 as 24000 /* talkies takes 8–48 kHz; the SDK types say 24000 */ }, turn_detection: null, transcription: { model: TINY, language: 'en' } } } } });
    for (let offset = 0; offset < jfk.length; offset += 320) live.rt.send({ type: 'input_audio_buffer.append', audio: pcm16(jfk.subarray(offset, offset + 320)) });
    live.rt.send({ type: 'input_audio_buffer.commit' });
    await until(() => live.of('conversation.item.input_audio_transcription.completed').length === 1 || live.of('client-error').length > 0, 'completed');
    expect(live.of('client-error')).toEqual([]);
    const completed = live.of('conversation.item.input_audio_transcription.completed')[0]!;
    expect(completed.transcript).toBe(whole.text.trim());
    expect(completed.usage.seconds).toBeCloseTo(11, 0);
    live.rt.close();
  });

  it('server VAD: re-transcription partials arrive before the completed transcript', async () => {
    const live = session();
    await live.opened;
    live.rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { transcription: { model: TINY, language: 'en' } } } } });
    // jfk.wav then a second of silence, in 20 ms appends (faster than real time: the engine sets the pace).
    const audio = new Float32Array(jfk.length + 16000);
    audio.set(jfk);
    for (let offset = 0; offset < audio.length; offset += 320) {
      live.rt.send({ type: 'input_audio_buffer.append', audio: pcm16(audio.subarray(offset, offset + 320)) });
      if ((offset / 320) % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    live.rt.send({ type: 'input_audio_buffer.commit' });
    await until(() => live.of('conversation.item.input_audio_transcription.completed').length >= 1, 'completed');
    const first = live.of('conversation.item.input_audio_transcription.completed')[0]!;
    const itemEvents = live.events.filter((event) => event.item_id === first.item_id);
    const firstDelta = itemEvents.findIndex((event) => event.type === 'conversation.item.input_audio_transcription.delta');
    expect(live.of('input_audio_buffer.speech_started').length).toBeGreaterThan(0);
    expect(firstDelta).toBeGreaterThanOrEqual(0);
    expect(firstDelta).toBeLessThan(itemEvents.indexOf(first));
    expect(first.transcript.length).toBeGreaterThan(0);
    live.rt.close();
  });
});
