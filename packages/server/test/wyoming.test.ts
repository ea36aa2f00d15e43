/**
 * The Wyoming server (Home Assistant's voice protocol), driven over loopback TCP by a
 * client written from the protocol description (test/wyoming-client.ts): describe,
 * synthesize with the real espeak-ng, malformed and oversized events, a client that
 * leaves or stops reading, and shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, startServer } from '../src/index.js';
import { WYOMING_MAX_CONNECTIONS, WyomingServer } from '../src/wyoming-server.js';
import { ESPEAK, SCRIPTED, startTestServer, type TestServer } from './test-server.js';
import { gate } from './test-server.js';
import { pcm16, WyomingTestClient, type ReceivedEvent } from './wyoming-client.js';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { pcm16WavFile } from '@talkies/testkit';

let server: TestServer;
let port: number;

beforeAll(async () => {
  server = await startTestServer(
    { 'scripted-asr': { repo: 'fixtures/scripted', ...SCRIPTED, languages: ['en', 'de'], description: 'a scripted model' }, espeak: ESPEAK },
    // A short idle timeout so the test of a client that stops reading is quick.
    { wyomingPort: 0, wyomingZeroconf: true, bodyIdleTimeoutSeconds: 1, maxLoadedModels: 2 },
  );
  port = server.wyoming!.port;
});
afterAll(() => server?.stop());

async function activeRequests(slug: string): Promise<number> {
  return server.catalog.pool.usage().find((usage) => usage.slug === slug)?.active ?? 0;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function connect(): Promise<WyomingTestClient> {
  return WyomingTestClient.connect(port);
}

/** A new connection still gets an answer: the server keeps serving. */
async function expectServing(): Promise<void> {
  const client = await connect();
  client.send('ping', { text: 'still there?' });
  expect((await client.next())?.data).toEqual({ text: 'still there?' });
  client.close();
}

describe('wyoming: describe', () => {
  it('answers info with the ASR models and the TTS voices, in the fields Home Assistant requires', async () => {
    const client = await connect();
    client.send('describe');
    const info = (await client.next())!;
    client.close();
    expect(info.type).toBe('info');
    // The data travels in the data block, so the header line stays short for any catalog.
    expect(info.header.data_length).toBeGreaterThan(0);
    expect(info.headerBytes).toBeLessThan(200);
    const { asr, tts } = info.data;
    for (const key of ['asr', 'tts', 'handle', 'intent', 'wake', 'mic', 'snd']) expect(Array.isArray(info.data[key]), key).toBe(true);
    const artifact = (value: Record<string, unknown>) => {
      expect(typeof value.name).toBe('string');
      expect(value.attribution).toEqual({ name: expect.any(String), url: expect.any(String) });
      expect(value.installed).toBe(true);
      expect(value.description === null || typeof value.description === 'string').toBe(true);
      expect(value.version === null || typeof value.version === 'string').toBe(true);
    };
    expect(asr).toHaveLength(1);
    artifact(asr[0]);
    expect(asr[0].models).toEqual([
      expect.objectContaining({ name: 'scripted-asr', description: 'a scripted model', languages: ['en', 'de'] }),
    ]);
    artifact(asr[0].models[0]);
    expect(asr[0].supports_transcript_streaming).toBe(true);
    expect(tts).toHaveLength(1);
    artifact(tts[0]);
    expect(tts[0].supports_synthesize_streaming).toBe(true);
    // espeak's voices, listed before the model was ever loaded, named <model>/<voice>.
    expect(server.catalog.pool.isLoaded('espeak')).toBe(false);
    const voices = tts[0].voices as Array<Record<string, any>>;
    expect(voices.length).toBeGreaterThan(50);
    for (const voice of voices) {
      artifact(voice);
      expect(voice.name.startsWith('espeak/')).toBe(true);
      expect(voice.languages.length).toBeGreaterThan(0);
    }
    expect(voices.find((voice) => voice.name === 'espeak/de')).toMatchObject({ languages: ['de'] });
  });

  it('reads data sent inline in the header as well as in a data block, and answers several events on one connection', async () => {
    const client = await connect();
    client.send('ping', { text: 'inline' }, undefined, { inlineData: true });
    client.send('describe', {}, undefined, { inlineData: true });
    client.send('ping', { text: 'block' });
    const events = [await client.next(), await client.next(), await client.next()];
    client.close();
    expect(events.map((event) => event?.type)).toEqual(['pong', 'info', 'pong']);
    expect(events[0]!.data.text).toBe('inline');
    expect(events[2]!.data.text).toBe('block');
  });

  it('skips events it does not know and answers the next', async () => {
    const client = await connect();
    client.send('run-satellite');
    client.send('ping', { text: 'after' });
    expect((await client.next())?.type).toBe('pong');
    client.close();
  });
});

function audioOf(events: ReceivedEvent[]): Buffer {
  return Buffer.concat(events.filter((event) => event.type === 'audio-chunk').map((event) => event.payload));
}

/** A 440 Hz tone, interleaved over `channels`. */
function tone(seconds: number, rate: number, channels = 1): Float32Array {
  const frames = Math.round(seconds * rate);
  const samples = new Float32Array(frames * channels);
  for (let frame = 0; frame < frames; frame++) {
    for (let channel = 0; channel < channels; channel++) samples[frame * channels + channel] = 0.5 * Math.sin((2 * Math.PI * 440 * frame) / rate);
  }
  return samples;
}

/** Audio events as Home Assistant sends them: 1024-frame chunks in the announced format. */
function sendAudio(client: WyomingTestClient, pcm: Buffer, format: { rate: number; width: number; channels: number }, chunkFrames = 1024): void {
  const chunkBytes = chunkFrames * format.width * format.channels;
  for (let offset = 0; offset < pcm.length; offset += chunkBytes) client.send('audio-chunk', format, pcm.subarray(offset, offset + chunkBytes));
}

async function httpTranscript(pcm: Buffer, language?: string): Promise<string> {
  const form = new FormData();
  form.set('file', new Blob([pcm16WavFile(pcm, 16000)], { type: 'audio/wav' }), 'tone.wav');
  form.set('model', 'scripted-asr');
  if (language) form.set('language', language);
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  expect(response.status).toBe(200);
  return ((await response.json()) as { text: string }).text;
}

describe('wyoming: transcribe', () => {
  const HA_FORMAT = { rate: 16000, width: 2, channels: 1 };

  it('transcribes audio-start, audio-chunk…, audio-stop into a transcript equal to the HTTP transcription of the same audio', async () => {
    const pcm = pcm16(tone(5, 16000));
    const client = await connect();
    client.send('transcribe', { language: 'de' });
    client.send('audio-start', { ...HA_FORMAT, timestamp: null });
    sendAudio(client, pcm, HA_FORMAT);
    client.send('audio-stop', { timestamp: null });
    const events = await client.until(['transcript-stop']);
    const transcript = events.find((event) => event.type === 'transcript')!;
    expect(transcript.data).toEqual({ text: await httpTranscript(pcm, 'de'), language: 'de' });
    expect(transcript.data.text.split(' ').length).toBeGreaterThan(2);
    // The streaming frame around it: transcript-start first, transcript-stop last.
    expect(events[0]!.type).toBe('transcript-start');
    expect(events.map((event) => event.type).filter((type) => !['transcript-chunk'].includes(type))).toEqual(['transcript-start', 'transcript', 'transcript-stop']);
    expect(await activeRequests('scripted-asr')).toBe(0);
    // The connection serves the next request, with the model's default language this time.
    client.send('audio-start', HA_FORMAT);
    sendAudio(client, pcm16(tone(1, 16000)), HA_FORMAT);
    client.send('audio-stop');
    const second = (await client.until(['transcript'])).at(-1)!;
    expect(second.data.text).toBe(await httpTranscript(pcm16(tone(1, 16000))));
    client.close();
  });

  it('takes any rate, width and channel count: 48 kHz stereo 32-bit gives the transcript of the same seconds at 16 kHz', async () => {
    const samples = tone(3, 48000, 2);
    const pcm = Buffer.alloc(samples.length * 4);
    samples.forEach((value, index) => pcm.writeInt32LE(Math.round(value * 2147483647), index * 4));
    const format = { rate: 48000, width: 4, channels: 2 };
    const client = await connect();
    client.send('transcribe', { name: 'scripted-asr', language: 'en-US' });
    client.send('audio-start', format);
    sendAudio(client, pcm, format, 4800);
    client.send('audio-stop');
    const transcript = (await client.until(['transcript'])).at(-1)!;
    client.close();
    expect(transcript.data).toEqual({ text: await httpTranscript(pcm16(tone(3, 16000)), 'en'), language: 'en' });
  });

  it('sends transcript-chunk events while audio is still arriving, and the transcript continues them', async () => {
    const client = await connect();
    client.send('audio-start', HA_FORMAT);
    const chunks: string[] = [];
    let seconds = 0;
    // Half a second at a time until the first partial text arrives (at most a minute of audio).
    while (chunks.length === 0) {
      expect(seconds).toBeLessThan(60);
      sendAudio(client, pcm16(tone(0.5, 16000)), HA_FORMAT, 8000);
      seconds += 0.5;
      const event = await client.next(200).catch(() => undefined);
      if (event?.type === 'transcript-chunk') chunks.push(event.data.text);
      else if (event) expect(event.type).toBe('transcript-start');
    }
    client.send('audio-stop');
    const rest = await client.until(['transcript-stop']);
    client.close();
    chunks.push(...rest.filter((event) => event.type === 'transcript-chunk').map((event) => event.data.text));
    const transcript = rest.find((event) => event.type === 'transcript')!.data.text as string;
    expect(transcript.startsWith(chunks.join(''))).toBe(true);
    expect(transcript).toBe(await httpTranscript(pcm16(tone(seconds, 16000))));
  });

  it.each([
    ['an unknown model', [['transcribe', { name: 'nope' }]], 'MODEL_NOT_FOUND', /unknown model 'nope'/],
    ['a TTS model', [['transcribe', { name: 'espeak' }]], 'UNSUPPORTED_CAPABILITY', /not an ASR model/],
    ['a rate of 0', [['audio-start', { rate: 0, width: 2, channels: 1 }]], 'INVALID_REQUEST', /"rate"/],
    ['24-bit samples', [['audio-start', { rate: 16000, width: 3, channels: 1 }]], 'INVALID_REQUEST', /"width"/],
    ['audio-chunk before audio-start', [['audio-chunk', { rate: 16000, width: 2, channels: 1 }, Buffer.alloc(64)]], 'INVALID_REQUEST', /before audio-start/],
    ['audio-stop before audio-start', [['audio-stop', {}]], 'INVALID_REQUEST', /without audio-start/],
    ['a chunk in another format', [['audio-start', { rate: 16000, width: 2, channels: 1 }], ['audio-chunk', { rate: 22050, width: 2, channels: 1 }, Buffer.alloc(64)]], 'INVALID_REQUEST', /keep one format/],
    ['half a frame', [['audio-start', { rate: 16000, width: 2, channels: 2 }], ['audio-chunk', { rate: 16000, width: 2, channels: 2 }, Buffer.alloc(6)]], 'INVALID_REQUEST', /whole number of frames/],
  ] as const)('answers %s with an error event and closes, freeing the model', async (_, events, code, message) => {
    const client = await connect();
    for (const [type, data, payload] of events as unknown as Array<[string, Record<string, unknown>, Buffer?]>) client.send(type, data, payload);
    const error = (await client.next())!;
    expect(error).toMatchObject({ type: 'error', data: { code } });
    expect(error.data.text).toMatch(message);
    await client.ended;
    client.close();
    await until(async () => (await activeRequests('scripted-asr')) === 0, 5000);
  });

  it('a client that disconnects mid-stream frees the model, and the server keeps transcribing for others', async () => {
    const client = await connect();
    client.send('audio-start', HA_FORMAT);
    sendAudio(client, pcm16(tone(2, 16000)), HA_FORMAT);
    await until(async () => (await activeRequests('scripted-asr')) === 1, 5000);
    client.socket.destroy();
    await until(async () => (await activeRequests('scripted-asr')) === 0, 5000);
    const next = await connect();
    next.send('audio-start', HA_FORMAT);
    sendAudio(next, pcm16(tone(2, 16000)), HA_FORMAT);
    next.send('audio-stop');
    expect((await next.until(['transcript'])).at(-1)!.data.text).toBe(await httpTranscript(pcm16(tone(2, 16000))));
    next.close();
  });

  it('a client that stops sending in the middle of a stream is cut off after the idle timeout, which frees the model', async () => {
    const client = await connect();
    client.send('audio-start', HA_FORMAT);
    sendAudio(client, pcm16(tone(0.5, 16000)), HA_FORMAT);
    const wyoming = server.container.resolve(WyomingServer);
    await until(() => (wyoming.streamingSeconds()[0] ?? 0) >= 0.5, 5000);
    // Nothing more: bodyIdleTimeoutSeconds is 1 here.
    await client.ended;
    await until(async () => (await activeRequests('scripted-asr')) === 0, 5000);
    client.close();
  });

  it('holds back a client that sends audio faster than it is transcribed, instead of buffering it', async () => {
    const held = gate();
    scriptedControl.gates.set('scripted-asr', held.promise);
    const client = await connect();
    try {
      // Ten minutes of audio sent at once (19 MB) while the engine is held.
      const minute = pcm16(tone(60, 16000));
      client.send('audio-start', HA_FORMAT);
      for (let index = 0; index < 10; index++) sendAudio(client, minute, HA_FORMAT, 16000);
      client.send('audio-stop');
      // The server stops reading once its pipeline is full (about 28 s per utterance, two
      // waiting for the engine and one growing, plus 10 s queued): the rest waits in TCP.
      const wyoming = server.container.resolve(WyomingServer);
      const received = () => wyoming.streamingSeconds()[0] ?? 0;
      await until(() => received() >= 80, 20_000);
      let previous = -1;
      await until(async () => {
        const now = received();
        const settled = now === previous;
        previous = now;
        if (!settled) await new Promise((resolve) => setTimeout(resolve, 300));
        return settled;
      }, 20_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(received()).toBeLessThan(120);
    } finally {
      scriptedControl.gates.delete('scripted-asr');
      held.open();
    }
    const transcript = (await client.until(['transcript'], 60_000)).at(-1)!;
    expect(transcript.data.text.split(' ').length).toBeGreaterThan(500);
    client.close();
  });
});

describe('wyoming: synthesize', () => {
  const TEXT = 'Hello from talkies. This is the second sentence.';

  it('answers audio-start, audio-chunk and audio-stop with the same PCM as the HTTP speech route', async () => {
    const client = await connect();
    client.send('synthesize', { text: TEXT, voice: { name: 'espeak/en-us' } });
    const events = await client.until(['audio-stop']);
    expect(events[0]).toMatchObject({ type: 'audio-start', data: { rate: 22050, width: 2, channels: 1 } });
    const chunks = events.filter((event) => event.type === 'audio-chunk');
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      expect(chunk.data).toMatchObject({ rate: 22050, width: 2, channels: 1 });
      expect(chunk.payload.length).toBeLessThanOrEqual(2048);
    }
    expect(events.at(-1)!.type).toBe('audio-stop');
    const audio = audioOf(events);
    const http = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'espeak', voice: 'en-us', input: TEXT, response_format: 'pcm' }),
    });
    expect(http.status).toBe(200);
    expect(audio.equals(Buffer.from(await http.arrayBuffer()))).toBe(true);
    // The connection stays open for the next request.
    client.send('synthesize', { text: 'Again.' });
    expect((await client.until(['audio-stop'])).length).toBeGreaterThan(2);
    client.close();
  });

  it('picks a voice by language when no name is given, and the default voice when nothing is', async () => {
    const client = await connect();
    client.send('synthesize', { text: 'Guten Tag.', voice: { language: 'de' } });
    const german = audioOf(await client.until(['audio-stop']));
    client.send('synthesize', { text: 'Guten Tag.', voice: { name: 'espeak/de' } });
    const named = audioOf(await client.until(['audio-stop']));
    client.send('synthesize', { text: 'Guten Tag.' });
    const english = audioOf(await client.until(['audio-stop']));
    client.close();
    expect(german.length).toBeGreaterThan(1000);
    expect(german.equals(named)).toBe(true);
    expect(german.equals(english)).toBe(false);
  });

  it('streams: synthesize-start, text in pieces that split words, speech before the text has all arrived, one audio-start and audio-stop, then synthesize-stopped', async () => {
    const client = await connect();
    client.send('synthesize-start', { voice: { name: 'espeak/en-us' } });
    client.send('synthesize-chunk', { text: 'Hello the' });
    client.send('synthesize-chunk', { text: 're. How a' });
    // The first sentence is complete: its audio comes while the rest of the text is unsent.
    const early = await client.until(['audio-chunk']);
    expect(early.map((event) => event.type)).toEqual(['audio-start', 'audio-chunk']);
    expect(early[0]!.data).toMatchObject({ rate: 22050, width: 2, channels: 1 });
    client.send('synthesize-chunk', { text: 're you? Fi' });
    client.send('synthesize-chunk', { text: 'ne.' });
    // The full text again, for servers without streaming: ignored inside a stream.
    client.send('synthesize', { text: 'Hello there. How are you? Fine.', voice: { name: 'espeak/en-us' } });
    client.send('synthesize-stop');
    const rest = await client.until(['synthesize-stopped']);
    client.close();
    const events = [...early, ...rest];
    const types = events.map((event) => event.type);
    expect(types.filter((type) => type === 'audio-start')).toHaveLength(1);
    expect(types.filter((type) => type === 'audio-stop')).toHaveLength(1);
    expect(types.slice(-2)).toEqual(['audio-stop', 'synthesize-stopped']);
    // Each sentence spoken as the speech route speaks it alone.
    const expected: Buffer[] = [];
    for (const sentence of ['Hello there.', 'How are you?', 'Fine.']) {
      const http = await fetch(`${server.url}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'espeak', voice: 'en-us', input: sentence, response_format: 'pcm' }),
      });
      expected.push(Buffer.from(await http.arrayBuffer()));
    }
    expect(audioOf(events).equals(Buffer.concat(expected))).toBe(true);
  });

  it('answers synthesize-chunk or synthesize-stop outside a streaming synthesis with an error event', async () => {
    for (const type of ['synthesize-chunk', 'synthesize-stop']) {
      const client = await connect();
      client.send(type, { text: 'x' });
      expect(await client.next()).toMatchObject({ type: 'error', data: { code: 'INVALID_REQUEST', text: expect.stringMatching(/before synthesize-start/) } });
      await client.ended;
      client.close();
    }
  });

  it('answers blank text with a bare audio-stop', async () => {
    const client = await connect();
    client.send('synthesize', { text: '   ' });
    expect((await client.next())?.type).toBe('audio-stop');
    client.close();
  });

  it('answers an unknown voice with an error event that names the voices, then closes', async () => {
    const client = await connect();
    client.send('synthesize', { text: 'Hello.', voice: { name: 'espeak/klingon' } });
    const error = (await client.next())!;
    expect(error.type).toBe('error');
    expect(error.data.code).toBe('INVALID_REQUEST');
    expect(error.data.text).toMatch(/unknown voice 'klingon'.*available/);
    await client.ended;
    client.close();
    await expectServing();
  });

  it('a client that disconnects mid-stream frees the model, and the server keeps serving', async () => {
    const long = Array.from({ length: 80 }, (_, index) => `Sentence ${index + 1} of a text nobody will hear to the end.`).join(' ');
    const client = await connect();
    client.send('synthesize', { text: long, voice: { name: 'espeak/en-us' } });
    await client.until(['audio-chunk']);
    expect(await activeRequests('espeak')).toBe(1);
    client.socket.destroy();
    await until(async () => (await activeRequests('espeak')) === 0, 5000);
    await expectServing();
  });

  it('a client that stops reading is cut off after the idle timeout, which frees the model', async () => {
    // More audio than the socket buffers hold, so the server has to wait for the reader.
    const long = Array.from({ length: 200 }, (_, index) => `Sentence ${index + 1} is read by nobody at all.`).join(' ');
    const client = await connect();
    client.socket.pause();
    client.send('synthesize', { text: long, voice: { name: 'espeak/en-us' } });
    await until(async () => (await activeRequests('espeak')) === 1, 5000);
    // bodyIdleTimeoutSeconds is 1 here: the server waits that long for the client to read, then gives up.
    await until(async () => (await activeRequests('espeak')) === 0, 20_000);
    client.socket.resume();
    const received: string[] = [];
    for (let event = await client.next(); event; event = await client.next()) received.push(event.type);
    expect(received[0]).toBe('audio-start');
    expect(received).not.toContain('audio-stop');
    client.close();
    await expectServing();
  });
});

describe('wyoming: hostile input', () => {
  it('answers a header that is not JSON with an error event and closes', async () => {
    const client = await connect();
    client.sendRaw('this is not json\n');
    const error = (await client.next())!;
    expect(error).toMatchObject({ type: 'error', data: { code: 'INVALID_EVENT' } });
    expect(error.data.text).toMatch(/not JSON/);
    await client.ended;
    client.close();
    await expectServing();
  });

  it.each([
    ['no type', '{"data":{}}\n', /"type"/],
    ['a type that is not a string', '{"type":5}\n', /"type"/],
    ['data that is not an object', '{"type":"describe","data":[1,2]}\n', /must be a JSON object/],
    ['a negative data_length', '{"type":"describe","data_length":-1}\n', /data_length/],
    ['a payload_length that is a string', '{"type":"audio-chunk","payload_length":"12"}\n', /payload_length/],
    ['a data block that is not JSON', '{"type":"describe","data_length":3}\nabc', /not JSON/],
  ])('answers %s with INVALID_EVENT and closes', async (_, raw, message) => {
    const client = await connect();
    client.sendRaw(raw);
    const error = (await client.next())!;
    expect(error).toMatchObject({ type: 'error', data: { code: 'INVALID_EVENT' } });
    expect(error.data.text).toMatch(message);
    await client.ended;
    client.close();
  });

  it('refuses a header line longer than 64 KiB before reading the rest of it', async () => {
    const client = await connect();
    // 8 MiB without a newline: the server answers after the first 64 KiB and drops the rest.
    const line = Buffer.alloc(8 * 1024 * 1024, 0x61);
    client.sendRaw(line);
    const error = (await client.next())!;
    expect(error).toMatchObject({ type: 'error', data: { code: 'EVENT_TOO_LARGE' } });
    expect(error.data.text).toMatch(/longer than 65536 bytes/);
    await client.ended;
    client.close();
    await expectServing();
  });

  it('refuses a payload_length or data_length over the limits without waiting for the bytes', async () => {
    for (const header of [
      { type: 'audio-chunk', data: { rate: 16000, width: 2, channels: 1 }, payload_length: 2 ** 40 },
      { type: 'synthesize', data_length: 1024 ** 3 },
    ]) {
      const client = await connect();
      client.sendRaw(`${JSON.stringify(header)}\n`);
      const error = (await client.next())!;
      expect(error).toMatchObject({ type: 'error', data: { code: 'EVENT_TOO_LARGE' } });
      expect(error.data.text).toMatch(/over this server's limit/);
      await client.ended;
      client.close();
    }
    await expectServing();
  });

  it('serves at most WYOMING_MAX_CONNECTIONS connections at once; the next is closed as it arrives', async () => {
    const clients = await Promise.all(Array.from({ length: WYOMING_MAX_CONNECTIONS }, () => connect()));
    try {
      // Every one of them is served.
      await Promise.all(clients.map(async (client, index) => {
        client.send('ping', { text: String(index) });
        expect((await client.next())?.data.text).toBe(String(index));
      }));
      const extra = await connect();
      extra.send('ping', { text: 'one too many' });
      expect(await extra.next()).toBeUndefined();
      extra.close();
    } finally {
      for (const client of clients) client.close();
    }
    await until(() => server.container.resolve(WyomingServer).connectionCount === 0, 5000);
    await expectServing();
  });

  it('closes a connection that stops in the middle of an event', async () => {
    const client = await connect();
    client.sendRaw('{"type":"synthesize","data_length":100}\n{"text":');
    // Nothing more is sent: the idle timeout (1 s here) ends the connection.
    await client.ended;
    client.close();
    await expectServing();
  });

  it('answers a synthesize without text with an error event', async () => {
    const client = await connect();
    client.send('synthesize', { voice: { name: 'espeak/en-us' } });
    expect(await client.next()).toMatchObject({ type: 'error', data: { code: 'INVALID_REQUEST' } });
    await client.ended;
    client.close();
  });
});

describe('wyoming: configuration and lifecycle', () => {
  it('is off by default; TALKIES_WYOMING_PORT turns it on; a bad value is named', () => {
    expect(loadConfig({}).wyomingPort).toBeUndefined();
    expect(loadConfig({}).wyomingZeroconf).toBe(true);
    expect(loadConfig({ TALKIES_WYOMING_PORT: '10300', TALKIES_WYOMING_ZEROCONF: 'false' })).toMatchObject({ wyomingPort: 10300, wyomingZeroconf: false });
    expect(() => loadConfig({ TALKIES_WYOMING_PORT: 'http' })).toThrow(/TALKIES_WYOMING_PORT 'http' is not a port/);
    expect(() => loadConfig({ TALKIES_WYOMING_ZEROCONF: 'maybe' })).toThrow(/TALKIES_WYOMING_ZEROCONF/);
    expect(server.wyoming?.host).toBe('127.0.0.1');
  });

  it('a taken port stops the boot with a message naming TALKIES_WYOMING_PORT', async () => {
    const config = { host: '127.0.0.1', port: 0, dataDir: join(server.dataDir, 'second'), modelsFile: join(server.dataDir, 'models.json'), wyomingPort: port };
    await expect(startServer({ environment: {}, config, logger: pino({ level: 'silent' }) })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\).*TALKIES_WYOMING_PORT/);
  });

  it('ends a transcription that passes TALKIES_MAX_AUDIO_SECONDS with an error event', async () => {
    const own = await startTestServer({ 'scripted-asr': { repo: 'fixtures/scripted', ...SCRIPTED } }, { wyomingPort: 0, maxAudioSeconds: 2 });
    try {
      const client = await WyomingTestClient.connect(own.wyoming!.port);
      const format = { rate: 16000, width: 2, channels: 1 };
      client.send('audio-start', format);
      sendAudio(client, pcm16(tone(3, 16000)), format);
      const error = (await client.until(['error'])).at(-1)!;
      expect(error.data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', text: expect.stringMatching(/TALKIES_MAX_AUDIO_SECONDS \(2 s\)/) });
      await client.ended;
      client.close();
      await until(() => own.catalog.pool.activeRequests === 0, 5000);
    } finally {
      await own.stop();
    }
  });

  it('shuts down with the HTTP server: idle connections close at once, a request in flight finishes first', async () => {
    const own = await startTestServer({ espeak: ESPEAK, 'scripted-asr': { repo: 'fixtures/scripted', ...SCRIPTED } }, { wyomingPort: 0, maxLoadedModels: 2 });
    const idle = await WyomingTestClient.connect(own.wyoming!.port);
    const busy = await WyomingTestClient.connect(own.wyoming!.port);
    const listening = await WyomingTestClient.connect(own.wyoming!.port);
    const text = Array.from({ length: 12 }, (_, index) => `Sentence ${index + 1} is spoken to the end.`).join(' ');
    busy.send('synthesize', { text });
    await busy.until(['audio-chunk']);
    const format = { rate: 16000, width: 2, channels: 1 };
    listening.send('audio-start', format);
    sendAudio(listening, pcm16(tone(1, 16000)), format);
    await until(() => own.catalog.pool.usage().find((usage) => usage.slug === 'scripted-asr')?.active === 1, 5000);
    const stopped = own.stop();
    await idle.ended;
    const rest = await busy.until(['audio-stop']);
    expect(rest.at(-1)!.type).toBe('audio-stop');
    await busy.ended;
    // An open audio stream is a request in flight too: the client finishes it and gets its transcript.
    sendAudio(listening, pcm16(tone(1, 16000)), format);
    listening.send('audio-stop');
    expect((await listening.until(['transcript'])).at(-1)!.data.text).toBe('the quick.');
    await listening.ended;
    await stopped;
    await expect(WyomingTestClient.connect(own.wyoming!.port)).rejects.toThrow(/ECONNREFUSED/);
    for (const client of [idle, busy, listening]) client.close();
  });
});
