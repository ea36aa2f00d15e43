/**
 * The shared live path inside a real server: LiveTranscriptionService over the server's
 * pool and VAD chunker (real Silero VAD), the scripted engine, espeak-ng speech at 24 kHz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveEvent } from '@talkies/core';
import { scriptedTranscript } from '@talkies-fixtures/engine-scripted';
import { SCRIPTED, startTestServer, type TestServer } from './test-server.js';
import { LiveTranscriptionService } from '../src/index.js';
import { spokenRecording, type Recording } from './live-support.js';

let server: TestServer;
let live: LiveTranscriptionService;
let recording: Recording;

beforeAll(async () => {
  server = await startTestServer({ scripted: { repo: 'fixtures/scripted', ...SCRIPTED } });
  live = server.container.resolve(LiveTranscriptionService);
  recording = await spokenRecording(['the weather is fine today', 'trains leave at seven'], 24000);
}, 60_000);
afterAll(() => server?.stop());

describe('LiveTranscriptionService', () => {
  it('cuts 24 kHz speech into utterances with real Silero VAD, transcribes each, and gives the lease back', async () => {
    const session = live.open({ model: 'scripted', sampleRate: 24000, segmentation: { type: 'server_vad' }, partialIntervalMs: 300 });
    const events: LiveEvent[] = [];
    const reading = (async () => {
      for await (const event of session) events.push(event);
    })();
    // 20 ms blocks, as a realtime client sends them.
    for (let offset = 0; offset < recording.samples.length; offset += 480) await session.write(recording.samples.subarray(offset, offset + 480));
    session.end();
    await reading;
    const finals = events.filter((event) => event.type === 'final') as Array<Extract<LiveEvent, { type: 'final' }>>;
    expect(finals).toHaveLength(2);
    expect(events.filter((event) => event.type === 'speech_started')).toHaveLength(2);
    expect(events.filter((event) => event.type === 'speech_stopped')).toHaveLength(2);
    for (const final of finals) {
      // The scripted engine's words are a function of the audio length it was given.
      expect(final.text).toBe(scriptedTranscript((final.audioEndMs - final.audioStartMs) / 1000, 'en').text);
    }
    const [first, second] = finals;
    expect(first!.audioStartMs).toBeGreaterThan(500);
    expect(first!.audioEndMs).toBeLessThan(second!.audioStartMs);
    const done = events.at(-1) as Extract<LiveEvent, { type: 'done' }>;
    expect(done).toMatchObject({ type: 'done', text: `${first!.text} ${second!.text}` });
    expect(done.seconds).toBeCloseTo(recording.samples.length / 24000, 3);
    expect(server.catalog.pool.status()[0]?.active_requests).toBe(0);
  });

  it('refuses an unknown model before streaming', () => {
    expect(() => live.open({ model: 'nope', sampleRate: 16000, segmentation: { type: 'manual' } })).toThrow(/unknown model 'nope'/);
  });
});
