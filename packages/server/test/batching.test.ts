/**
 * Batching across requests through the real server: a batch-capable engine (the scripted
 * fixture with `engineOptions.batch`) gets concurrent requests as batches, each client its
 * own answer, the same as when the requests come one at a time; a client that disconnects
 * leaves its batch without disturbing the others; an engine without batching is unchanged.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { SCRIPTED, gate, makeTone, readJson, startTestServer, type TestServer } from './test-server.js';

/**
 * Batches hold three pieces, and the window is longer than any test here waits, so only
 * full batches start: the grouping is exact whatever the machine's load. (The window's
 * timing is tested in core's request-batcher tests.)
 */
const BATCH = 3;

let server: TestServer;
let client: OpenAI;
const tones: string[] = [];

beforeAll(async () => {
  server = await startTestServer(
    {
      batched: { repo: 'fixtures/batched', ...SCRIPTED, engineOptions: { batch: 8 } },
      plain: { repo: 'fixtures/plain', ...SCRIPTED },
      // Engines that take each piece's audio away with them, as a model in a worker thread
      // does: one is given the recording whole, the other its pieces as core's chunker cuts them.
      taking: { repo: 'fixtures/taking', ...SCRIPTED, engineOptions: { batch: 8, takeAudio: true } },
      'taking-pieces': { repo: 'fixtures/taking-pieces', ...SCRIPTED, engineOptions: { batch: 8, takeAudio: true, longForm: false } },
    },
    { batchWindowMs: 600_000, batchMaxSize: BATCH, maxLoadedModels: 4 },
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  // Six different lengths, so that every answer is different (the scripted words follow the length).
  for (const seconds of [2.5, 4, 6.3, 8, 11.2, 3.1]) tones.push(await makeTone(join(server.dataDir, `tone-${seconds}.wav`), seconds));
}, 60_000);
afterAll(() => server?.stop());

async function transcribe(model: string, path: string): Promise<unknown> {
  return client.audio.transcriptions.create({
    file: await toFile(await readFile(path), 'tone.wav'),
    model,
    response_format: 'verbose_json',
    timestamp_granularities: ['word', 'segment'],
  });
}

/** Polls until `condition` holds (deadline-based: the machine may be busy). */
async function until(condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const batchesSince = (before: number, model = 'batched') =>
  scriptedControl.events.slice(before).filter((event) => event.model === model && event.event === 'batch-start');

describe('batching across requests', () => {
  it('answers concurrent requests in batches of at most TALKIES_BATCH_MAX_SIZE, each with its sequential result', async () => {
    // One at a time through the same engine's transcribe() (the model without batching).
    const sequential = [];
    for (const tone of tones) sequential.push(await transcribe('plain', tone));
    const before = scriptedControl.events.length;
    const concurrent = await Promise.all(tones.map((tone) => transcribe('batched', tone)));
    expect(concurrent).toEqual(sequential);
    expect(new Set(concurrent.map((result) => JSON.stringify(result))).size).toBe(tones.length);
    // Six requests, batches of three: full batches start without waiting out the window.
    expect(batchesSince(before).map((event) => event.size)).toEqual([BATCH, BATCH]);
    expect(scriptedControl.events.slice(before).some((event) => event.event === 'transcribe-start')).toBe(false);
    // No request is left counted as on its way to the model (its batcher would wait for it).
    expect(server.catalog.get('batched').onTheWay.count).toBe(0);
  }, 60_000);

  it('lets a client that disconnects leave its batch while the others get their answers', async () => {
    const expected = [await transcribe('plain', tones[0]!), await transcribe('plain', tones[2]!)];
    const hold = gate();
    scriptedControl.gates.set('batched', hold.promise);
    const before = scriptedControl.events.length;
    try {
      const leaving = new AbortController();
      const first = transcribe('batched', tones[0]!);
      const gone = fetch(`${server.url}/v1/audio/transcriptions`, {
        method: 'POST',
        body: await form(tones[1]!),
        signal: leaving.signal,
      }).catch((error: unknown) => error);
      const third = transcribe('batched', tones[2]!);
      // All three are in one batch, held by the gate.
      await until(() => batchesSince(before).length === 1);
      expect(batchesSince(before)[0]!.size).toBe(3);
      // Each of them stopped counting as on its way when its piece reached the model.
      expect(server.catalog.get('batched').onTheWay.count).toBe(0);
      leaving.abort();
      expect(await gone).toMatchObject({ name: 'AbortError' });
      // The server has seen the disconnect before the batch goes on.
      await until(() => server.catalog.pool.usage().find((usage) => usage.slug === 'batched')!.active === 2);
      hold.open();
      expect(await Promise.all([first, third])).toEqual(expected);
    } finally {
      scriptedControl.gates.delete('batched');
      hold.open();
    }
    // The model serves the next batch as before.
    const next = await Promise.all(tones.slice(3).map((tone) => transcribe('batched', tone)));
    expect(next).toEqual([await transcribe('plain', tones[3]!), await transcribe('plain', tones[4]!), await transcribe('plain', tones[5]!)]);
  }, 60_000);

  it('batches the piece of a stream=true request with the others, and counts it as on its way only until then', async () => {
    const expected = (await transcribe('plain', tones[1]!)) as { text: string };
    const before = scriptedControl.events.length;
    const file = await toFile(await readFile(tones[1]!), 'tone.wav');
    const events: Array<{ type: string; text?: string }> = [];
    // The answer starts with the first event, which needs the batch: read it meanwhile.
    const streamed = (async () => {
      const stream = await client.audio.transcriptions.create({ file, model: 'batched', stream: true });
      for await (const event of stream) events.push(event as never);
    })();
    // The window outlasts the test: the stream's piece waits for two more. Once it is in
    // the batcher's line the stream no longer counts as on its way.
    await until(() => server.catalog.pool.usage().find((usage) => usage.slug === 'batched')!.active === 1 && server.catalog.get('batched').onTheWay.count === 0);
    const others = await Promise.all([transcribe('batched', tones[0]!), transcribe('batched', tones[2]!)]);
    await streamed;
    expect(batchesSince(before).map((event) => event.size)).toEqual([BATCH]);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: expected.text });
    expect(others).toEqual([await transcribe('plain', tones[0]!), await transcribe('plain', tones[2]!)]);
    expect(server.catalog.get('batched').onTheWay.count).toBe(0);
  }, 60_000);

  it('answers and counts every second of audio when the engine takes the pieces\' audio away with it', async () => {
    const audioSeconds = async (model: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = text.split('\n').find((row) => row.startsWith(`talkies_audio_seconds_total{model="${model}",task="transcribe"}`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const sequential = [];
    for (const tone of tones) sequential.push(await transcribe('plain', tone));
    const total = [2.5, 4, 6.3, 8, 11.2, 3.1].reduce((sum, seconds) => sum + seconds, 0);
    for (const model of ['taking', 'taking-pieces']) {
      const secondsBefore = await audioSeconds(model);
      const before = scriptedControl.events.length;
      const concurrent = await Promise.all(tones.map((tone) => transcribe(model, tone)));
      // Durations included: read before the audio went.
      expect(concurrent).toEqual(sequential);
      const batches = scriptedControl.events.slice(before).filter((event) => event.model === model && event.event === 'batch-start');
      expect(batches.map((event) => event.size)).toEqual([BATCH, BATCH]);
      expect(batches.reduce((sum, event) => sum + event.seconds!, 0)).toBeCloseTo(total, 3);
      // The request arrays read as empty once the engine took their buffers; the metric
      // still counts the audio each piece had when it was sent.
      expect((await audioSeconds(model)) - secondsBefore).toBeCloseTo(total, 3);
    }
  }, 60_000);

  it('leaves engines without batching as they were: one transcribe call per request, queued behind max_concurrency', async () => {
    const before = scriptedControl.events.length;
    const results = await Promise.all(tones.slice(0, 3).map((tone) => transcribe('plain', tone)));
    expect(results).toHaveLength(3);
    const calls = scriptedControl.events.slice(before).filter((event) => event.model === 'plain');
    expect(calls.filter((event) => event.event === 'transcribe-start')).toHaveLength(3);
    expect(calls.some((event) => event.event === 'batch-start')).toBe(false);
    // max_concurrency 1: each call ended before the next began.
    const order = calls.filter((event) => event.event === 'transcribe-start' || event.event === 'transcribe-end').map((event) => event.event);
    expect(order).toEqual(['transcribe-start', 'transcribe-end', 'transcribe-start', 'transcribe-end', 'transcribe-start', 'transcribe-end']);
    const ps = await readJson(await fetch(`${server.url}/api/ps`));
    expect(ps.models.map((model: { id: string; max_concurrency: number }) => [model.id, model.max_concurrency]).sort()).toEqual([
      ['batched', 1],
      ['plain', 1],
      ['taking', 1],
      ['taking-pieces', 1],
    ]);
  }, 60_000);
});

async function form(path: string): Promise<FormData> {
  const body = new FormData();
  body.append('model', 'batched');
  body.append('response_format', 'verbose_json');
  body.append('file', new Blob([await readFile(path)]), 'tone.wav');
  return body;
}
