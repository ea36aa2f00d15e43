/**
 * `stream=true` on /v1/audio/transcriptions: OpenAI's `transcript.text.delta` and
 * `transcript.text.done` events, one delta per piece as the VAD chunker releases it (real
 * Silero VAD, espeak-ng speech, the scripted engine), read by the official openai client's
 * stream iterator and as raw SSE; file, file_path, stereo diarization, and a client that
 * disconnects.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { APIError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { DEFAULT_LONG_AUDIO_OPTIONS } from '@talkies/core';
import { gate, readJson, SCRIPTED, startTestServer, type TestServer } from './test-server.js';
import { spokenRecording, until, type Recording } from './live-support.js';

const run = promisify(execFile);

let server: TestServer;
let client: OpenAI;
/** Four phrases with pauses: over the (lowered) chunking threshold, so several pieces. */
let speech: Recording;
let stereo: Buffer;

beforeAll(async () => {
  server = await startTestServer(
    {
      chunked: { repo: 'fixtures/chunked', ...SCRIPTED, engineOptions: { longForm: false } },
      whole: { repo: 'fixtures/whole', ...SCRIPTED },
    },
    { longAudio: { ...DEFAULT_LONG_AUDIO_OPTIONS, thresholdSeconds: 4, maxSpeechSeconds: 4 } },
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  speech = await spokenRecording(['the weather is fine today', 'trains leave at seven', 'bring an umbrella', 'see you at the station'], 16000, 1.2);
  // Stereo: the recording on the left, its first half on the right.
  const left = join(server.dataDir, 'left.wav');
  await writeFile(left, speech.wav);
  const stereoPath = join(server.dataDir, 'stereo.wav');
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-i', left, '-filter_complex', '[0:a]asplit[a][b];[b]volume=volume=\'if(lt(t,6),1,0)\':eval=frame[c];[a][c]join=inputs=2:channel_layout=stereo[out]', '-map', '[out]', '-ac', '2', stereoPath]);
  stereo = await (await import('node:fs/promises')).readFile(stereoPath);
}, 60_000);
afterAll(() => server?.stop());

async function whole(model: string, wav: Buffer, extra: Record<string, string> = {}): Promise<{ text: string }> {
  const form = new FormData();
  form.append('model', model);
  for (const [key, value] of Object.entries(extra)) form.append(key, value);
  form.append('file', new Blob([wav]), 'speech.wav');
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  expect(response.status).toBe(200);
  return readJson(response);
}

/** Raw SSE over HTTP: every frame as it arrives, with its arrival order. */
function rawStream(fields: Record<string, string>, file?: Buffer) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (file) form.append('file', new Blob([file]), 'speech.wav');
  const encoded = new Response(form);
  const frames: string[] = [];
  let status = 0;
  let headers: Record<string, unknown> = {};
  let abort!: () => void;
  const finished = (async () => {
    const body = Buffer.from(await encoded.arrayBuffer());
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(`${server.url}/v1/audio/transcriptions`, {
        method: 'POST',
        headers: { 'content-type': encoded.headers.get('content-type')!, 'content-length': body.length },
      });
      abort = () => request.destroy();
      request.on('error', (error) => (request.destroyed ? resolve() : reject(error)));
      request.on('response', (response) => {
        status = response.statusCode!;
        headers = response.headers;
        let buffered = '';
        response.setEncoding('utf8');
        response.on('data', (text: string) => {
          buffered += text;
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            frames.push(buffered.slice(0, end));
            buffered = buffered.slice(end + 2);
          }
        });
        response.on('end', () => resolve());
        response.on('close', () => resolve());
      });
      request.end(body);
    });
  })();
  return { frames, finished, status: () => status, headers: () => headers, abort: () => abort?.() };
}

describe('stream=true through the openai client', () => {
  it('iterates deltas, one per piece, then done with the whole-file text and usage in seconds', async () => {
    const expected = await whole('chunked', speech.wav);
    const stream = await client.audio.transcriptions.create({ file: await toFile(speech.wav, 'speech.wav'), model: 'chunked', stream: true });
    const events: Array<{ type: string; delta?: string; text?: string; usage?: { type: string; seconds: number } }> = [];
    for await (const event of stream) events.push(event as never);
    const deltas = events.filter((event) => event.type === 'transcript.text.delta');
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    const done = events.at(-1)!;
    expect(done.type).toBe('transcript.text.done');
    expect(done.text).toBe(expected.text);
    expect(deltas.map((delta) => delta.delta).join('')).toBe(expected.text);
    expect(done.usage).toEqual({ type: 'duration', seconds: expect.closeTo(speech.samples.length / 16000, 2) });
  });

  it('a backend that takes long audio whole gets one piece', async () => {
    const expected = await whole('whole', speech.wav);
    const stream = await client.audio.transcriptions.create({ file: await toFile(speech.wav, 'speech.wav'), model: 'whole', stream: true, response_format: 'json' });
    const events: Array<{ type: string; delta?: string; text?: string }> = [];
    for await (const event of stream) events.push(event as never);
    expect(events.map((event) => event.type)).toEqual(['transcript.text.delta', 'transcript.text.done']);
    expect(events[1]!.text).toBe(expected.text);
  });

  it('refuses what it cannot stream before any event: a subtitle format, an unknown include, an unknown model', async () => {
    const attempt = async (body: Record<string, unknown>) =>
      client.audio.transcriptions
        .create({ file: await toFile(speech.wav, 'speech.wav'), model: 'chunked', stream: true, ...body } as never)
        .then(async (stream) => {
          for await (const _event of stream as unknown as AsyncIterable<unknown>) void _event;
        })
        .catch((caught: unknown) => caught);
    const srt = await attempt({ response_format: 'srt' });
    expect(srt).toBeInstanceOf(APIError);
    expect((srt as APIError).status).toBe(400);
    expect((srt as APIError).message).toMatch(/json or text/);
    const include = await attempt({ include: ['everything'] });
    expect((include as APIError).status).toBe(400);
    const unknown = await attempt({ model: 'nope' });
    expect((unknown as APIError).status).toBe(404);
  });
});

describe('stream=true as raw SSE', () => {
  it('sends data-only frames in order: deltas as pieces are released, then done', async () => {
    // Hold the engine on the second piece: the first delta must already be out.
    const first = gate();
    const second = gate();
    scriptedControl.gates.set('chunked', first.promise);
    const before = scriptedControl.events.length;
    const calls = () => scriptedControl.events.slice(before).filter((event) => event.model === 'chunked');
    const stream = rawStream({ model: 'chunked', stream: 'true', 'include[]': 'logprobs' }, speech.wav);
    try {
      await until(() => calls().some((event) => event.event === 'transcribe-start'), 'the first piece to reach the engine');
      scriptedControl.gates.set('chunked', second.promise);
      first.open();
      await until(() => stream.frames.length >= 1, 'the first delta');
      expect(calls().filter((event) => event.event === 'transcribe-end')).toHaveLength(1);
      expect(stream.frames).toHaveLength(1);
    } finally {
      scriptedControl.gates.delete('chunked');
      first.open();
      second.open();
    }
    await stream.finished;
    expect(stream.status()).toBe(200);
    expect(stream.headers()['content-type']).toBe('text/event-stream');
    const events = stream.frames.map((frame) => {
      expect(frame.startsWith('data: ')).toBe(true);
      expect(frame).not.toMatch(/^event:/m);
      return JSON.parse(frame.slice('data: '.length)) as Record<string, unknown>;
    });
    const types = events.map((event) => event.type);
    expect(types.at(-1)).toBe('transcript.text.done');
    expect(types.slice(0, -1).every((type) => type === 'transcript.text.delta')).toBe(true);
    for (const delta of events.slice(0, -1)) {
      expect(Object.keys(delta).sort()).toEqual(['delta', 'type']);
      expect(typeof delta.delta).toBe('string');
    }
    // The scripted engine gives no word confidences: include[]=logprobs adds nothing.
    expect(Object.keys(events.at(-1)!).sort()).toEqual(['text', 'type', 'usage']);
  });

  it('reads a staged file through file_path', async () => {
    const put = await fetch(`${server.url}/v1/files/live/speech.wav`, { method: 'PUT', body: speech.wav, headers: { 'content-type': 'audio/wav' } });
    expect(put.status).toBeLessThan(300);
    const stream = rawStream({ model: 'chunked', stream: 'true', file_path: 'live/speech.wav' });
    await stream.finished;
    const done = JSON.parse(stream.frames.at(-1)!.slice(6)) as { type: string; text: string };
    expect(done.type).toBe('transcript.text.done');
    expect(done.text).toBe((await whole('chunked', speech.wav)).text);
  });

  it('streams both channels of a stereo recording with diarization, done equal to the non-streamed answer', async () => {
    const expected = await whole('chunked', stereo, { diarization: 'true' });
    const stream = rawStream({ model: 'chunked', stream: 'true', diarization: 'true' }, stereo);
    await stream.finished;
    const events = stream.frames.map((frame) => JSON.parse(frame.slice(6)) as { type: string; text?: string; delta?: string });
    expect(events.filter((event) => event.type === 'transcript.text.delta').length).toBeGreaterThanOrEqual(4);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: expected.text });
  });

  it('a mono file with diarization is refused before the stream starts', async () => {
    const stream = rawStream({ model: 'chunked', stream: 'true', diarization: 'true' }, speech.wav);
    await stream.finished;
    expect(stream.status()).toBe(400);
  });

  it('a client that disconnects mid-stream stops the work and frees the model', async () => {
    const held = gate();
    scriptedControl.gates.set('chunked', held.promise);
    const before = scriptedControl.events.length;
    const stream = rawStream({ model: 'chunked', stream: 'true' }, speech.wav);
    try {
      await until(() => scriptedControl.events.slice(before).some((event) => event.model === 'chunked' && event.event === 'transcribe-start'), 'the engine to start');
      expect(server.catalog.pool.usage().find((model) => model.slug === 'chunked')?.active).toBe(1);
      stream.abort();
      await stream.finished;
    } finally {
      scriptedControl.gates.delete('chunked');
      held.open();
    }
    await until(() => server.catalog.pool.usage().find((model) => model.slug === 'chunked')?.active === 0, 'the lease to be released');
    // No more pieces went to the engine after the one in flight.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const starts = scriptedControl.events.slice(before).filter((event) => event.model === 'chunked' && event.event === 'transcribe-start');
    expect(starts.length).toBeLessThanOrEqual(2);
    // The model serves the next request.
    expect((await whole('chunked', speech.wav)).text.length).toBeGreaterThan(0);
  });
});
