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
import { ESPEAK, SCRIPTED, startTestServer, type TestServer } from './test-server.js';
import { WyomingTestClient, type ReceivedEvent } from './wyoming-client.js';

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
    // Speech-to-text is not offered until transcription over Wyoming is served.
    expect(asr).toEqual([]);
    expect(tts).toHaveLength(1);
    artifact(tts[0]);
    expect(tts[0].supports_synthesize_streaming).toBe(false);
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

  it('answers a transcription request with an error event saying it is not served, then closes', async () => {
    const client = await connect();
    client.send('transcribe', { language: 'en' });
    expect(await client.next()).toMatchObject({ type: 'error', data: { code: 'UNSUPPORTED_CAPABILITY', text: expect.stringMatching(/not served/) } });
    await client.ended;
    client.close();
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

  it('shuts down with the HTTP server: idle connections close at once, a request in flight finishes first', async () => {
    const own = await startTestServer({ espeak: ESPEAK }, { wyomingPort: 0 });
    const idle = await WyomingTestClient.connect(own.wyoming!.port);
    const busy = await WyomingTestClient.connect(own.wyoming!.port);
    const text = Array.from({ length: 12 }, (_, index) => `Sentence ${index + 1} is spoken to the end.`).join(' ');
    busy.send('synthesize', { text });
    await busy.until(['audio-chunk']);
    const stopped = own.stop();
    await idle.ended;
    const rest = await busy.until(['audio-stop']);
    expect(rest.at(-1)!.type).toBe('audio-stop');
    await busy.ended;
    await stopped;
    await expect(WyomingTestClient.connect(own.wyoming!.port)).rejects.toThrow(/ECONNREFUSED/);
    idle.close();
    busy.close();
  });
});
