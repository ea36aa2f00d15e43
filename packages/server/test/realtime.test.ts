/**
 * Realtime transcription over WebSocket, driven by the official openai npm client's
 * realtime WebSocket classes (GA `openai/realtime/ws`, beta `openai/beta/realtime/ws`)
 * pointed at a real server: espeak-ng speech as pcm16 at 24 kHz in 20 ms appends, real
 * Silero VAD, the scripted engine. The clients force `wss:`; `createConnection` hands
 * them a plain TCP socket to the loopback server instead.
 */
import { connect } from 'node:net';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import type { OpenAIRealtimeError } from 'openai/realtime/internal-base';
import { OpenAIRealtimeWS as BetaRealtimeWS } from 'openai/beta/realtime/ws';
import pino from 'pino';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl, scriptedTranscript } from '@talkies-fixtures/engine-scripted';
import { gate, readJson, SCRIPTED, startTestServer, type TestServer } from './test-server.js';
import { REALTIME_MAX_CONNECTIONS } from '../src/realtime-transcription.js';
import { spokenRecording, toPcm16, until, type Recording } from './live-support.js';

const TOKEN = 'realtime-secret';
let server: TestServer;
let open: TestServer;
let speech: Recording;
let phrase: Recording;

beforeAll(async () => {
  const models = { scripted: { repo: 'fixtures/scripted', ...SCRIPTED }, other: { repo: 'fixtures/other', ...SCRIPTED } };
  [server, open] = await Promise.all([startTestServer(models, { authToken: TOKEN }), startTestServer(models)]);
  [speech, phrase] = await Promise.all([
    spokenRecording(['the weather is fine today', 'trains leave at seven'], 24000, 1),
    spokenRecording(['bring an umbrella to the station'], 24000, 0.5),
  ]);
}, 60_000);
afterAll(() => Promise.all([server?.stop(), open?.stop()]));

type ServerEvent = { type: string; [key: string]: any };

/** A realtime client of the given class on `target`, recording every server event. */
function client(target: TestServer, options: { key?: string; beta?: boolean; model?: string } = {}) {
  const port = Number(new URL(target.url).port);
  const openai = new OpenAI({ apiKey: options.key ?? TOKEN, baseURL: `${target.url}/v1` });
  const socketOptions = { createConnection: () => connect(port, '127.0.0.1') };
  const rt: OpenAIRealtimeWS = options.beta
    ? (new BetaRealtimeWS({ model: options.model ?? 'scripted', options: socketOptions }, openai) as unknown as OpenAIRealtimeWS)
    : new OpenAIRealtimeWS({ intent: 'transcription', options: socketOptions }, openai);
  const events: ServerEvent[] = [];
  const errors: OpenAIRealtimeError[] = [];
  rt.on('event', (event) => events.push(event as ServerEvent));
  rt.on('error', (error) => errors.push(error));
  const opened = new Promise<void>((resolve, reject) => {
    rt.socket.once('open', () => resolve());
    rt.socket.once('error', reject);
    rt.socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
  });
  const closed = new Promise<number>((resolve) => rt.socket.once('close', (code) => resolve(code)));
  return { rt, events, errors, opened, closed, of: (type: string) => events.filter((event) => event.type === type) };
}

/** Appends `recording` in 20 ms pieces, four times faster than real time. */
async function stream(rt: { send(event: never): void }, recording: Recording, from = 0, to = recording.samples.length): Promise<void> {
  const piece = recording.sampleRate / 50;
  for (let offset = from; offset < to; offset += piece) {
    rt.send({ type: 'input_audio_buffer.append', audio: toPcm16(recording.samples.subarray(offset, Math.min(to, offset + piece))).toString('base64') } as never);
    if ((offset / piece) % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function wholeFile(target: TestServer, recording: Recording, model = 'scripted'): Promise<string> {
  const form = new FormData();
  form.append('model', model);
  form.append('file', new Blob([recording.wav]), 'speech.wav');
  const response = await fetch(`${target.url}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.status).toBe(200);
  return ((await readJson(response)) as { text: string }).text;
}

const active = (target: TestServer, slug = 'scripted') => target.catalog.pool.usage().find((model) => model.slug === slug)?.active ?? 0;

/** A new client on `target` streams the phrase and gets its transcript (the model serves again), then leaves. */
async function nextClientTranscribes(target: TestServer): Promise<void> {
  const next = client(target, { key: 'anything' });
  await next.opened;
  await stream(next.rt, phrase);
  await until(() => next.of('conversation.item.input_audio_transcription.completed').length === 1, "the next client's transcript");
  const completed = next.of('conversation.item.input_audio_transcription.completed')[0]!;
  expect(completed.transcript).toBe(scriptedTranscript(completed.usage.seconds, 'en').text);
  expect(next.errors).toEqual([]);
  next.rt.close();
  expect(await next.closed).toBe(1000);
  await until(() => active(target) === 0, 'the lease to be released');
}

describe('realtime transcription with the GA client (intent=transcription)', () => {
  it('server VAD: speech started/stopped, partial deltas before each completed, one item per utterance', async () => {
    const session = client(server);
    await session.opened;
    await until(() => session.of('session.created').length === 1, 'session.created');
    expect(session.of('session.created')[0]!.session).toMatchObject({ type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad' } } } });
    session.rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { transcription: { model: 'scripted', language: 'en' } } } } });
    await until(() => session.of('session.updated').length === 1, 'session.updated');
    expect(session.of('session.updated')[0]!.session.audio.input.transcription).toMatchObject({ model: 'scripted', language: 'en' });
    await stream(session.rt, speech);
    await until(() => session.of('conversation.item.input_audio_transcription.completed').length === 2, 'two completed transcripts');
    const items = session.of('input_audio_buffer.committed').map((event) => event.item_id as string);
    expect(items).toHaveLength(2);
    expect(session.of('input_audio_buffer.committed')[1]!.previous_item_id).toBe(items[0]);
    expect(session.of('input_audio_buffer.speech_started').map((event) => event.item_id)).toEqual(items);
    expect(session.of('input_audio_buffer.speech_stopped').map((event) => event.item_id)).toEqual(items);
    const started = session.of('input_audio_buffer.speech_started')[0]!;
    expect(started.audio_start_ms).toBeGreaterThan(500);
    expect(started.audio_start_ms).toBeLessThan(1200);
    for (const item of items) {
      const forItem = session.events.filter((event) => event.item_id === item);
      const completedAt = forItem.findIndex((event) => event.type === 'conversation.item.input_audio_transcription.completed');
      const deltas = forItem.filter((event) => event.type === 'conversation.item.input_audio_transcription.delta');
      expect(deltas.length).toBeGreaterThan(0);
      expect(forItem.findIndex((event) => event.type === 'conversation.item.input_audio_transcription.delta')).toBeLessThan(completedAt);
      const completed = forItem[completedAt]!;
      expect(completed.transcript).toBe(deltas.map((delta) => delta.delta).join(''));
      expect(completed.usage).toMatchObject({ type: 'duration' });
      // The scripted engine's words follow the length of the audio it got: the utterance's.
      expect(completed.transcript).toBe(scriptedTranscript(completed.usage.seconds, 'en').text);
    }
    expect(session.errors).toEqual([]);
    session.rt.close();
    expect(await session.closed).toBe(1000);
    await until(() => active(server) === 0, 'the lease to be released');
  });

  it('manual turns (turn_detection null): .completed equals a whole-file transcription of the same audio', async () => {
    const session = client(server);
    await session.opened;
    session.rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null, transcription: { model: 'scripted' } } } } });
    await until(() => session.of('session.updated').length === 1, 'session.updated');
    expect(session.of('session.updated')[0]!.session.audio.input.turn_detection).toBeNull();
    session.rt.send({ type: 'input_audio_buffer.commit', event_id: 'too-early' });
    await until(() => session.errors.length === 1, 'the empty-commit error');
    expect(session.errors[0]!.error).toMatchObject({ code: 'input_audio_buffer_commit_empty', event_id: 'too-early' });
    await stream(session.rt, phrase);
    session.rt.send({ type: 'input_audio_buffer.commit' });
    await until(() => session.of('conversation.item.input_audio_transcription.completed').length === 1, 'the completed transcript');
    expect(session.of('input_audio_buffer.speech_started')).toHaveLength(0);
    const completed = session.of('conversation.item.input_audio_transcription.completed')[0]!;
    expect(completed.transcript).toBe(await wholeFile(server, phrase));
    expect(completed.usage.seconds).toBeCloseTo(phrase.samples.length / 24000, 2);
    session.rt.close();
    await session.closed;
  });

  it('refuses a bad token, and accepts the key as the subprotocol browsers send', async () => {
    const bad = client(server, { key: 'wrong' });
    await expect(bad.opened).rejects.toThrow(/401/);
    const port = Number(new URL(server.url).port);
    const missing = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime?intent=transcription`);
    await expect(new Promise((resolve, reject) => {
      missing.once('open', resolve);
      missing.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    })).rejects.toThrow(/401/);
    // openai/realtime/websocket (for browsers) sends these two subprotocols.
    const browser = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime?intent=transcription`, ['realtime', `openai-insecure-api-key.${TOKEN}`]);
    const first = await new Promise<ServerEvent>((resolve, reject) => {
      browser.once('message', (data) => resolve(JSON.parse(String(data))));
      browser.once('error', reject);
    });
    expect(browser.protocol).toBe('realtime');
    expect(first.type).toBe('session.created');
    browser.close();
  });

  it('answers malformed and unsupported events with error events and keeps the session', async () => {
    const session = client(open, { key: 'anything' });
    await session.opened;
    session.rt.socket.send('not json');
    session.rt.send({ type: 'response.create', event_id: 'e1' } as never);
    session.rt.send({ type: 'input_audio_buffer.append', audio: 'AAAA' } as never);
    session.rt.send({ type: 'session.update', event_id: 'e2', session: { type: 'transcription', audio: { input: { transcription: { model: 'nope' } } } } });
    await until(() => session.errors.length === 4, 'four error events');
    expect(session.errors.map((error) => error.error?.code)).toEqual(['invalid_json', 'unsupported_event', 'invalid_value', 'invalid_value']);
    expect(session.errors[3]!.error?.message).toMatch(/unknown model 'nope'/);
    // Client strings quoted in an error come back cut, not whole.
    session.rt.send({ type: `x${'y'.repeat(100_000)}`, event_id: `e${'f'.repeat(100_000)}` } as never);
    await until(() => session.errors.length === 5, 'the fifth error event');
    const quoted = session.errors[4]!.error!;
    expect(quoted.code).toBe('unsupported_event');
    expect(quoted.message.length).toBeLessThan(600);
    expect(quoted.message).toMatch(/^'xy{199}… \(99801 more characters\)' is not served here/);
    expect(quoted.event_id!.length).toBeLessThan(300);
    expect(quoted.event_id).toMatch(/^efff.*… \(99745 more characters\)$/);
    session.rt.send({ type: 'input_audio_buffer.clear' });
    await until(() => session.of('input_audio_buffer.cleared').length === 1, 'cleared');
    session.rt.close();
    await session.closed;
  });

  it('a client that disconnects mid-utterance frees the model', async () => {
    const held = gate();
    const session = client(open, { key: 'anything' });
    await session.opened;
    // Speech, and no pause after it: the utterance is still open when the client leaves.
    scriptedControl.gates.set('scripted', held.promise);
    try {
      await stream(session.rt, phrase, 0, Math.floor(phrase.samples.length * 0.6));
      await until(() => session.of('input_audio_buffer.speech_started').length === 1, 'speech to start');
      await until(() => active(open) === 1, 'the model to be leased');
      session.rt.close();
      await session.closed;
    } finally {
      scriptedControl.gates.delete('scripted');
      held.open();
    }
    await until(() => active(open) === 0, 'the lease to be released after the disconnect');
    expect(session.of('conversation.item.input_audio_transcription.completed')).toHaveLength(0);
  });

  it('closes the socket on a message over the size limit', async () => {
    const port = Number(new URL(open.url).port);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime?intent=transcription`);
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: 'A'.repeat(22 * 1024 * 1024) }));
    expect(await closed).toBe(1009);
  });

  it('serves at most 128 connections at once, then answers 503', async () => {
    const port = Number(new URL(open.url).port);
    const url = `ws://127.0.0.1:${port}/v1/realtime?intent=transcription`;
    const sockets = await Promise.all(
      Array.from({ length: REALTIME_MAX_CONNECTIONS }, () => {
        const socket = new WebSocket(url);
        return new Promise<WebSocket>((resolve, reject) => {
          socket.once('open', () => resolve(socket));
          socket.once('error', reject);
        });
      }),
    );
    try {
      const extra = new WebSocket(url);
      const status = await new Promise<number>((resolve) => {
        extra.once('unexpected-response', (_request, response) => resolve(response.statusCode!));
        extra.once('open', () => resolve(101));
        extra.once('error', () => {});
      });
      expect(status).toBe(503);
    } finally {
      await Promise.all(sockets.map((socket) => new Promise((resolve) => {
        socket.once('close', resolve);
        socket.close();
      })));
    }
    // Closed connections make room again (the server notices each close a moment later).
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          const again = new WebSocket(url);
          again.once('open', () => {
            again.close();
            resolve(true);
          });
          again.once('unexpected-response', () => resolve(false));
          again.once('error', () => resolve(false));
        }),
      'room for a new connection',
    );
  });

  it('refuses other WebSocket paths and conversation sessions', async () => {
    const port = Number(new URL(open.url).port);
    const attempt = (path: string) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
        socket.once('unexpected-response', (_request, response) => resolve(response.statusCode!));
        socket.once('open', () => resolve(101));
        socket.once('error', () => {});
      });
    expect(await attempt('/v1/elsewhere')).toBe(404);
    expect(await attempt('/v1/realtime?model=gpt-realtime')).toBe(404);
    expect(await attempt('/v1/realtime?intent=conversation')).toBe(400);
  });
});

describe('realtime transcription with the beta client (OpenAI-Beta: realtime=v1)', () => {
  it('speaks transcription_session.* and transcribes on ?model=<asr slug>', async () => {
    const session = client(server, { beta: true, model: 'other' });
    await session.opened;
    await until(() => session.of('transcription_session.created').length === 1, 'transcription_session.created');
    expect(session.of('transcription_session.created')[0]!.session).toMatchObject({ input_audio_format: 'pcm16', input_audio_transcription: { model: 'other' } });
    session.rt.send({ type: 'transcription_session.update', session: { input_audio_format: 'pcm16', turn_detection: { type: 'server_vad', silence_duration_ms: 400 } } } as never);
    await until(() => session.of('transcription_session.updated').length === 1, 'transcription_session.updated');
    expect(session.of('transcription_session.updated')[0]!.session.turn_detection).toMatchObject({ silence_duration_ms: 400 });
    await stream(session.rt, speech);
    await until(() => session.of('conversation.item.input_audio_transcription.completed').length === 2, 'two completed transcripts');
    expect(session.of('conversation.item.created')).toHaveLength(2);
    session.rt.close();
    await session.closed;
    await until(() => active(server, 'other') === 0, 'the lease to be released');
  });
});

describe('a client that stops reading its events (TALKIES_BODY_IDLE_TIMEOUT)', () => {
  const STALL_SECONDS = 2;
  type LogLine = { msg: string; [key: string]: unknown };
  const stallingLogs: LogLine[] = [];
  const patientLogs: LogLine[] = [];
  const capture = (lines: LogLine[]) => pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  let stalling: TestServer;
  let patient: TestServer;
  beforeAll(async () => {
    const models = { scripted: { repo: 'fixtures/scripted', ...SCRIPTED } };
    [stalling, patient] = await Promise.all([
      startTestServer(models, { bodyIdleTimeoutSeconds: STALL_SECONDS }, { logger: capture(stallingLogs) }),
      // 0 turns the rule off (config.ts).
      startTestServer(models, { bodyIdleTimeoutSeconds: 0 }, { logger: capture(patientLogs) }),
    ]);
  }, 60_000);
  afterAll(() => Promise.all([stalling?.stop(), patient?.stop()]));

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const logged = (lines: LogLine[], since: number, pattern: RegExp) => lines.slice(since).some((line) => pattern.test(line.msg));
  const NOT_READING = /^realtime client is not reading its events/;
  const CUT_OFF = /within TALKIES_BODY_IDLE_TIMEOUT; cut off$/;
  // The scripted engine's events are a few hundred bytes: the ~4 MB that loopback TCP
  // buffers take from a client that reads nothing would hold thousands of them. Any client
  // can make the server queue more: session.updated echoes the session, prompt included.
  // The first echo of this 3 MiB prompt fits in the kernel's buffers, the next ones pass
  // the server's MAX_SEND_BUFFER (1 MiB).
  const PROMPT = 'words '.repeat(512 * 1024);
  const update = (rt: OpenAIRealtimeWS) =>
    rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null, transcription: { model: 'scripted', prompt: PROMPT } } } } });
  /** Engine calls (partial or final transcriptions) finished since `mark`. */
  const transcribed = (mark: number) => scriptedControl.events.slice(mark).filter((event) => event.event === 'transcribe-end').length;
  const SECOND = 24000;

  /**
   * A client with its session created that from then on reads nothing (its TCP receive
   * window closes); a cut-off may reach it as a reset, which it ignores.
   */
  async function pausedClient(target: TestServer) {
    const session = client(target, { key: 'anything' });
    await session.opened;
    session.rt.socket.on('error', () => {});
    await until(() => session.of('session.created').length === 1, 'session.created');
    session.rt.socket.pause();
    return session;
  }

  /**
   * A client that stops reading in the middle of an utterance: manual turns and 2.5 s of
   * audio (its session holds the model), the first partial transcription held at a gate
   * until one more session.update, the client's last message, has taken the server's queue
   * past the limit. Resolves when the partials agree and their delta waits behind that
   * queue: the relay waits with it, and the engine with the relay.
   */
  async function stalledClient(target: TestServer, lines: LogLine[]) {
    const session = await pausedClient(target);
    update(session.rt);
    const mark = scriptedControl.events.length;
    const held = gate();
    scriptedControl.gates.set('scripted', held.promise);
    try {
      await stream(session.rt, phrase, 0, 2.5 * SECOND);
      await until(() => scriptedControl.events.slice(mark).some((event) => event.event === 'transcribe-start'), 'a partial transcription to start');
      const since = lines.length;
      update(session.rt);
      await until(() => logged(lines, since, NOT_READING), 'the server to see that the client does not read');
    } finally {
      scriptedControl.gates.delete('scripted');
      held.open();
    }
    await until(() => transcribed(mark) >= 2, 'two partial transcriptions');
    expect(active(target)).toBe(1);
    return session;
  }

  it('is cut off after TALKIES_BODY_IDLE_TIMEOUT of not reading, and its model serves the next client', async () => {
    const since = stallingLogs.length;
    const session = await stalledClient(stalling, stallingLogs);
    const stalledAt = Date.now();
    await until(() => active(stalling) === 0, 'the stalled client to be cut off and its model released', (STALL_SECONDS + 6) * 1000);
    expect(logged(stallingLogs, since, CUT_OFF)).toBe(true);
    // Not before the timeout (give or take this test's polling).
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(STALL_SECONDS * 1000 - 300);
    // When it reads again it finds the connection gone, without a close frame.
    session.rt.socket.resume();
    expect(await session.closed).toBe(1006);
    expect(session.of('conversation.item.input_audio_transcription.completed')).toHaveLength(0);

    await nextClientTranscribes(stalling);
  });

  it('a client that stops reading and goes on talking is not read any more, and is cut off', async () => {
    const session = await pausedClient(stalling);
    update(session.rt);
    const mark = scriptedControl.events.length;
    await stream(session.rt, phrase, 0, 2.5 * SECOND);
    await until(() => transcribed(mark) >= 2, 'two partial transcriptions');
    expect(active(stalling)).toBe(1);
    const since = stallingLogs.length;
    const stalledAt = Date.now();
    update(session.rt);
    // The rest of the phrase: no new delta, so only its messages wait on the client.
    await stream(session.rt, phrase, 2.5 * SECOND);
    await until(() => active(stalling) === 0, 'the stalled client to be cut off and its model released', (STALL_SECONDS + 6) * 1000);
    expect(logged(stallingLogs, since, CUT_OFF)).toBe(true);
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(STALL_SECONDS * 1000 - 300);
    session.rt.socket.resume();
    expect(await session.closed).toBe(1006);
  });

  it('a client that reads none of the answers its messages pile up stops being read, and is cut off', async () => {
    const session = await pausedClient(stalling);
    const since = stallingLogs.length;
    const started = Date.now();
    // 24 MiB of answers asked for; no audio, so no transcription session is involved.
    for (let count = 0; count < 8; count++) update(session.rt);
    await until(() => logged(stallingLogs, since, CUT_OFF), 'the client to be cut off', (STALL_SECONDS + 6) * 1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(STALL_SECONDS * 1000 - 300);
    session.rt.socket.resume();
    expect(await session.closed).toBe(1006);
    // The server stopped taking its messages once its answers passed the limit.
    expect(session.of('session.updated').length).toBeLessThan(4);
  });

  /**
   * 9 MiB of session.updated, 2.5 s of audio and a commit, on a client that reads at once,
   * or (`slow`) on one that reads nothing until the server holds its messages back, then
   * nothing for a quarter of the timeout, then reads for 100 ms out of every 500 ms.
   */
  async function session(slow: boolean) {
    const session = client(stalling, { key: 'anything' });
    await session.opened;
    await until(() => session.of('session.created').length === 1, 'session.created');
    const since = stallingLogs.length;
    if (slow) session.rt.socket.pause();
    let reading = true;
    const reader = (async () => {
      if (!slow) return;
      await until(() => logged(stallingLogs, since, NOT_READING), 'the server to see that the client does not read');
      await sleep((STALL_SECONDS * 1000) / 4);
      while (reading) {
        session.rt.socket.resume();
        await sleep(100);
        session.rt.socket.pause();
        await sleep(400);
      }
      session.rt.socket.resume();
    })();
    for (let count = 0; count < 3; count++) update(session.rt);
    await stream(session.rt, phrase, 0, 2.5 * SECOND);
    session.rt.send({ type: 'input_audio_buffer.commit' });
    await until(() => session.of('conversation.item.input_audio_transcription.completed').length === 1, 'the completed transcript', 20_000);
    reading = false;
    await reader;
    expect(session.rt.socket.readyState).toBe(WebSocket.OPEN);
    expect(session.errors).toEqual([]);
    session.rt.close();
    expect(await session.closed).toBe(1000);
    await until(() => active(stalling) === 0, 'the lease to be released');
    return session;
  }

  it('a client that reads slowly, pausing less than the timeout each time, is not cut off and gets every event', async () => {
    const slow = await session(true);
    const prompt = slow.of('session.updated').map((event) => event.session.audio.input.transcription.prompt);
    expect(prompt).toEqual([PROMPT, PROMPT, PROMPT]);
    const completed = slow.of('conversation.item.input_audio_transcription.completed')[0]!;
    expect(slow.of('conversation.item.input_audio_transcription.delta').length).toBeGreaterThan(0);
    expect(completed.transcript).toBe(slow.of('conversation.item.input_audio_transcription.delta').map((delta) => delta.delta).join(''));
    expect(completed.transcript).toBe(scriptedTranscript(completed.usage.seconds, 'en').text);
    expect(slow.of('input_audio_buffer.committed')).toHaveLength(1);
    // Nothing lost: the same events, in the same order, as a client that reads at once.
    const eager = await session(false);
    const shape = (events: ServerEvent[]) => events.map((event) => [event.type, event.delta ?? event.transcript ?? null]);
    expect(shape(slow.events)).toEqual(shape(eager.events));
  });

  it('with TALKIES_BODY_IDLE_TIMEOUT=0 a stalled client is not cut off, and its close frees the model at once', async () => {
    const session = await stalledClient(patient, patientLogs);
    // Longer than the other server's timeout: this one has none, the client stays.
    await sleep((STALL_SECONDS + 1) * 1000);
    expect(active(patient)).toBe(1);
    expect(session.rt.socket.readyState).toBe(WebSocket.OPEN);
    // It closes, still reading nothing. The server gets the close frame but its answer waits
    // behind the queue, so the socket's 'close' would come only with ws's 30 s close timeout:
    // the session must end when the close frame arrives.
    session.rt.close();
    await until(() => active(patient) === 0, 'the lease to be released when the stalled client closes', 5_000);
    session.rt.socket.resume();
    expect(await session.closed).toBe(1000);
    expect(session.errors).toEqual([]);
  });
});

describe('a client that sends no audio while its utterance is open (TALKIES_BODY_IDLE_TIMEOUT)', () => {
  const IDLE_SECONDS = 1;
  let idle: TestServer;
  let patient: TestServer;
  beforeAll(async () => {
    const models = { scripted: { repo: 'fixtures/scripted', ...SCRIPTED } };
    [idle, patient] = await Promise.all([
      startTestServer(models, { bodyIdleTimeoutSeconds: IDLE_SECONDS }),
      startTestServer(models, { bodyIdleTimeoutSeconds: 0 }),
    ]);
  }, 60_000);
  afterAll(() => Promise.all([idle?.stop(), patient?.stop()]));

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const SECOND = 24000;
  /** Speech cut in the middle of the phrase: no pause after it, so the utterance stays open. */
  const MID_SPEECH = 0.6;

  /** A client that speaks (server VAD, or manual turns) and then sends nothing; resolves when the model is leased. */
  async function quiet(target: TestServer, manual: boolean) {
    const session = client(target, { key: 'anything' });
    await session.opened;
    await until(() => session.of('session.created').length === 1, 'session.created');
    if (manual) {
      session.rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null } } } });
      await until(() => session.of('session.updated').length === 1, 'session.updated');
    }
    // When the last append left the client: the server takes it no earlier.
    let lastAudioAt = 0;
    const send = session.rt.send.bind(session.rt);
    session.rt.send = ((event: { type: string }) => {
      if (event.type === 'input_audio_buffer.append') lastAudioAt = Date.now();
      send(event as never);
    }) as typeof session.rt.send;
    await stream(session.rt, phrase, 0, Math.floor(phrase.samples.length * MID_SPEECH));
    if (!manual) await until(() => session.of('input_audio_buffer.speech_started').length === 1, 'speech to start');
    await until(() => active(target) === 1, 'the model to be leased');
    return { session, lastAudioAt: () => lastAudioAt };
  }

  async function cutOff(manual: boolean) {
    const { session, lastAudioAt } = await quiet(idle, manual);
    expect(await Promise.race([session.closed, sleep((IDLE_SECONDS + 8) * 1000).then(() => 'still open')])).toBe(1008);
    // Not before the timeout: the clock starts when the server has taken the last audio, after it was sent.
    expect(Date.now() - lastAudioAt()).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000);
    expect(session.errors.map((error) => error.error?.code)).toEqual(['audio_idle_timeout']);
    expect(session.errors[0]!.error?.message).toMatch(/no audio for 1 s while an utterance was open.*free the model.*keep streaming audio \(silence included\).*commit or clear/i);
    expect(session.of('conversation.item.input_audio_transcription.completed')).toHaveLength(0);
    await until(() => active(idle) === 0, 'the lease to be released', 2_000);

    // The model serves the next client.
    await nextClientTranscribes(idle);
  }

  it('server VAD: speech, then nothing: an error event, the socket closed (1008), the model released for the next client', () => cutOff(false));

  it('manual turns: audio appended, then no audio, commit or clear: the same', () => cutOff(true));

  it('audio that keeps coming (silence included) keeps the session; a client idle between utterances stays connected', async () => {
    const session = client(idle, { key: 'anything' });
    await session.opened;
    // A pause longer than the timeout ends an utterance only if its silence is sent.
    session.rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad', silence_duration_ms: 2500 } } } } });
    await until(() => session.of('session.updated').length === 1, 'session.updated');
    await stream(session.rt, phrase, 0, Math.floor(phrase.samples.length * MID_SPEECH));
    await until(() => session.of('input_audio_buffer.speech_started').length === 1, 'speech to start');
    // Silence at real-time pace, 100 ms per append: the utterance stays open for 2.5 s of it.
    const silence = new Float32Array(SECOND / 10);
    const started = Date.now();
    let heldPastTimeout = false;
    while (session.of('conversation.item.input_audio_transcription.completed').length === 0) {
      if (Date.now() - started > 15_000) throw new Error('timed out waiting for the completed transcript');
      session.rt.send({ type: 'input_audio_buffer.append', audio: toPcm16(silence).toString('base64') });
      await sleep(100);
      if (session.of('input_audio_buffer.speech_stopped').length === 0 && Date.now() - started > (IDLE_SECONDS + 0.5) * 1000 && active(idle) === 1) heldPastTimeout = true;
    }
    // The utterance was open longer than the timeout, on silence alone.
    expect(heldPastTimeout).toBe(true);
    const completed = session.of('conversation.item.input_audio_transcription.completed')[0]!;
    expect(completed.transcript).toBe(scriptedTranscript(completed.usage.seconds, 'en').text);
    expect(session.errors).toEqual([]);
    // Between utterances nothing is held: no audio for longer than the timeout is fine.
    await until(() => active(idle) === 0, 'the lease to be released after the utterance');
    await sleep((IDLE_SECONDS + 1) * 1000);
    expect(session.rt.socket.readyState).toBe(WebSocket.OPEN);
    expect(session.errors).toEqual([]);
    session.rt.close();
    expect(await session.closed).toBe(1000);
  });

  it('with TALKIES_BODY_IDLE_TIMEOUT=0 a quiet client keeps its session', async () => {
    const { session } = await quiet(patient, false);
    await sleep((IDLE_SECONDS + 1.5) * 1000);
    expect(session.rt.socket.readyState).toBe(WebSocket.OPEN);
    expect(active(patient)).toBe(1);
    expect(session.errors).toEqual([]);
    session.rt.close();
    expect(await session.closed).toBe(1000);
    await until(() => active(patient) === 0, 'the lease to be released when it closes');
  });
});
