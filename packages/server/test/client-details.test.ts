/**
 * Details that real clients trip on (issue 8, item 7), each over real HTTP against a
 * started server: Python requests' file parts, models.retrieve, `stream=true`, the limit a
 * 413 names, and X-Request-Id.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import OpenAI, { APIError } from 'openai';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, SCRIPTED, makeTone, readJson, startTestServer, type TestServer } from './test-server.js';
import { rawRequest } from './raw-http.js';

const MAX_UPLOAD = 512 * 1024;
const MAX_JSON = 256 * 1024;

let server: TestServer;
let client: OpenAI;
let tone: Buffer;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  server = await startTestServer(
    { 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED }, 'org/scripted-b': { repo: 'fixtures/b', ...SCRIPTED }, espeak: ESPEAK },
    { maxUploadBytes: MAX_UPLOAD, maxJsonBytes: MAX_JSON },
    { logger: pino({ level: 'info' }, sink) },
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  tone = await readFile(await makeTone(join(server.dataDir, 'tone.wav'), 1));
});
afterAll(() => server?.stop());

/** A multipart body written by hand, the way Python requests writes it: no Content-Type on the file part. */
function pythonRequestsBody(boundary: string, fields: Record<string, string>, file: Buffer, fileHeaders: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\n${fileHeaders.join('\r\n')}\r\n\r\n`), file, Buffer.from(`\r\n--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

describe('multipart file parts', () => {
  it('accepts a file part with a filename and no Content-Type (Python requests)', async () => {
    const boundary = 'a1b2c3d4e5f6';
    const body = pythonRequestsBody(boundary, { model: 'scripted-a' }, tone, [
      'Content-Disposition: form-data; name="file"; filename="a.wav"',
    ]);
    const response = await rawRequest(server.url, 'POST', '/v1/audio/transcriptions', {
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(response.status, response.text).toBe(200);
    expect(response.json).toEqual({ text: 'the quick.' });
  });

  it('says so when `file` arrives as a text field (no filename)', async () => {
    const boundary = 'f6e5d4c3b2a1';
    const body = pythonRequestsBody(boundary, { model: 'scripted-a' }, tone, ['Content-Disposition: form-data; name="file"']);
    const response = await rawRequest(server.url, 'POST', '/v1/audio/transcriptions', {
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(response.status).toBe(400);
    expect(response.json.error.param).toBe('file');
    expect(response.json.detail).toMatch(/arrived as a text field.*filename/);
  });
});

describe('GET /v1/models/{id}', () => {
  it('answers models.retrieve, slugs with "/" included', async () => {
    const model = await client.models.retrieve('scripted-a');
    expect(model).toMatchObject({ id: 'scripted-a', object: 'model', owned_by: 'talkies', modality: 'asr', executor: 'scripted' });
    const listed = (await client.models.list()).data.find((entry) => entry.id === 'scripted-a');
    expect(model).toEqual(listed);
    // The SDK sends org%2Fscripted-b.
    expect(await client.models.retrieve('org/scripted-b')).toMatchObject({ id: 'org/scripted-b', modality: 'asr' });
    expect(await client.models.retrieve('espeak')).toMatchObject({ id: 'espeak', modality: 'tts' });
  });

  it('404s an unknown model, listing the catalog', async () => {
    const error = await client.models.retrieve('whisper-9').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(404);
    expect((error as APIError).message).toMatch(/unknown model 'whisper-9'; configured: scripted-a, org\/scripted-b, espeak/);
  });
});

describe('stream=true on a transcription', () => {
  it('streams through the SDK: deltas, then done with the ordinary answer\'s text', async () => {
    const stream = await client.audio.transcriptions.create({ file: createReadStream(join(server.dataDir, 'tone.wav')), model: 'scripted-a', stream: true });
    const events: Array<{ type: string; text?: string }> = [];
    for await (const event of stream) events.push(event as never);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: 'the quick.' });
  });

  it('stream=false is the ordinary answer', async () => {
    const form = new FormData();
    form.append('model', 'scripted-a');
    form.append('stream', 'false');
    form.append('file', new Blob([tone]), 'tone.wav');
    const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ text: 'the quick.' });
  });
});

describe('413 names the limit that applied', () => {
  it('a JSON speech body over the JSON limit names TALKIES_MAX_JSON_BYTES, not the upload cap', async () => {
    const response = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'espeak', input: 'x'.repeat(MAX_JSON + 10) }),
    });
    expect(response.status).toBe(413);
    const body = await readJson(response);
    expect(body.error.code).toBe('payload_too_large');
    expect(body.detail).toMatch(new RegExp(`more than ${MAX_JSON} bytes, the JSON body limit.*TALKIES_MAX_JSON_BYTES`));
    expect(body.detail).not.toMatch(/UPLOAD/);
  });

  it('an upload over the cap names TALKIES_MAX_UPLOAD_BYTES', async () => {
    const form = new FormData();
    form.append('model', 'scripted-a');
    form.append('file', new Blob([Buffer.alloc(MAX_UPLOAD + 1)]), 'big.wav');
    const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(response.status).toBe(413);
    expect((await readJson(response)).detail).toMatch(new RegExp(`${MAX_UPLOAD}.*TALKIES_MAX_UPLOAD_BYTES`));
    const put = await fetch(`${server.url}/v1/files/big.bin`, { method: 'PUT', body: Buffer.alloc(MAX_UPLOAD + 1) });
    expect(put.status).toBe(413);
    expect((await readJson(put)).detail).toMatch(/TALKIES_MAX_UPLOAD_BYTES/);
  });
});

describe('X-Request-Id', () => {
  it('is on every answer: success, refusal, unknown route; generated when the client sends none', async () => {
    const ids = new Set<string>();
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/v1/models/nope'],
      ['GET', '/no/such/route'],
      ['POST', '/v1/audio/speech'],
    ] as const) {
      const response = await rawRequest(server.url, method, path);
      const id = response.headers['x-request-id'];
      expect(id, `${method} ${path}`).toMatch(/^[0-9a-f-]{36}$/);
      ids.add(id as string);
    }
    expect(ids.size).toBe(4);
  });

  it('keeps a sane incoming id, replaces an odd one, and logs it with the request', async () => {
    const kept = await rawRequest(server.url, 'GET', '/v1/models', { headers: { 'x-request-id': 'proxy-42.abc' } });
    expect(kept.headers['x-request-id']).toBe('proxy-42.abc');
    const odd = await rawRequest(server.url, 'GET', '/v1/models', { headers: { 'x-request-id': 'has spaces and "quotes"' } });
    expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const long = await rawRequest(server.url, 'GET', '/v1/models', { headers: { 'x-request-id': 'a'.repeat(200) } });
    expect(long.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'request', requestId: 'proxy-42.abc', method: 'GET', path: '/v1/models', status: 200 }));
  });

  it('reaches the SDK errors (requestID), and the refusal log line carries it', async () => {
    const error = (await client.models.retrieve('nope').catch((caught: unknown) => caught)) as APIError;
    expect(error.requestID).toMatch(/^[0-9a-f-]{36}$/);
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'request refused', requestId: error.requestID, status: 404 }));
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'request', requestId: error.requestID, status: 404 }));
  });
});
