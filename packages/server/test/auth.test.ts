import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, startServer, type RunningServer } from '../src/index.js';
import { rawRequest, type RawResponse } from './raw-http.js';
import { ESPEAK, SCRIPTED, makeTone } from './test-server.js';

const TOKEN = 's3cret-token-that-must-never-be-logged';
const WRONG = 'wrong-token-also-never-logged';

let server: RunningServer;
let dataDir: string;
let tone: Buffer;
const logLines: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'talkies-auth-'));
  const modelsFile = join(dataDir, 'models.json');
  await writeFile(modelsFile, JSON.stringify({ models: { 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED }, espeak: ESPEAK } }));
  tone = await readFile(await makeTone(join(dataDir, 'tone.wav'), 2, ['-ar', '16000']));
  // Everything the server logs, at the most verbose level, to check the token never shows.
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  server = await startServer({
    environment: { TALKIES_AUTH_TOKEN: `  ${TOKEN}  ` },
    config: { port: 0, host: '127.0.0.1', dataDir, modelsFile, sweeperIntervalSeconds: 0 },
    logger: pino({ level: 'trace' }, sink),
  });
});
afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

interface Route {
  method: string;
  path: string;
  body?: () => { body: string | Uint8Array; headers: Record<string, string> };
}

function multipart(fields: Record<string, string>, file?: Buffer): { body: Buffer; headers: Record<string, string> } {
  const boundary = 'talkies-auth-boundary';
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\ncontent-type: audio/wav\r\n\r\n`));
    parts.push(file, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const json = (value: unknown) => () => ({ body: JSON.stringify(value), headers: { 'content-type': 'application/json' } });
const mcpInitialize = json({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'auth-test', version: '1' } },
});

const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/models' },
  { method: 'GET', path: '/v1/audio/voices' },
  { method: 'GET', path: '/api/ps' },
  { method: 'DELETE', path: '/api/ps/scripted-a' },
  { method: 'POST', path: '/unload' },
  { method: 'POST', path: '/v1/audio/transcriptions', body: () => multipart({ model: 'scripted-a' }, tone) },
  { method: 'POST', path: '/v1/audio/translations', body: () => multipart({ model: 'scripted-a' }, tone) },
  { method: 'POST', path: '/v1/audio/speech', body: json({ model: 'espeak', input: 'hi', response_format: 'wav' }) },
  { method: 'GET', path: '/v1/files' },
  { method: 'PUT', path: '/v1/files/auth/a.txt', body: () => ({ body: 'hello', headers: {} }) },
  { method: 'GET', path: '/v1/files/auth/a.txt' },
  { method: 'DELETE', path: '/v1/files/auth/a.txt' },
  { method: 'POST', path: '/v1/mcp', body: mcpInitialize },
  { method: 'POST', path: '/v1/mcp/', body: mcpInitialize },
  { method: 'GET', path: '/v1/mcp' },
  { method: 'GET', path: '/no/such/route' },
];

async function send(route: Route, authorization?: string): Promise<RawResponse> {
  const payload = route.body?.();
  const headers: Record<string, string> = { ...payload?.headers, accept: 'application/json, text/event-stream' };
  if (authorization !== undefined) headers.authorization = authorization;
  return rawRequest(server.url, route.method, route.path, { headers, body: payload?.body });
}

function expectRefused(response: RawResponse, message: string, label: string): void {
  expect(response.status, label).toBe(401);
  expect(response.headers['www-authenticate'], label).toBe('Bearer');
  expect(response.headers['content-type'], label).toMatch(/^application\/json/);
  expect(response.json, label).toEqual({
    error: { message, type: 'authentication_error', param: null, code: 'unauthorized' },
    detail: message,
  });
}

const MISSING = 'missing Authorization: Bearer header; send Authorization: Bearer <TALKIES_AUTH_TOKEN>';

describe('bearer auth on every route', () => {
  it('leaves GET /healthz open', async () => {
    const response = await rawRequest(server.url, 'GET', '/healthz');
    expect(response.status).toBe(200);
    expect(response.json.ok).toBe(true);
  });

  it('leaves CORS preflight (OPTIONS) open', async () => {
    const response = await rawRequest(server.url, 'OPTIONS', '/v1/models', {
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    expect(response.status).not.toBe(401);
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}: 401 without the header, with another scheme, or with a wrong token; served with the token`, async () => {
      const label = `${route.method} ${route.path}`;
      expectRefused(await send(route), MISSING, `${label} (no header)`);
      expectRefused(await send(route, `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`), MISSING, `${label} (Basic)`);
      expectRefused(await send(route, TOKEN), MISSING, `${label} (bare token)`);
      expectRefused(await send(route, `Bearer ${WRONG}`), 'invalid bearer token', `${label} (wrong token)`);
      expectRefused(await send(route, `Bearer ${TOKEN.slice(0, -1)}`), 'invalid bearer token', `${label} (prefix of the token)`);
      // HTTP trims the trailing space, so this is the bare word 'Bearer'.
      expectRefused(await send(route, 'Bearer '), MISSING, `${label} (empty token)`);
      // The scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` are served like `Bearer`.
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const served = await send(route, `${scheme} ${TOKEN}`);
        expect(served.status, `${label} (${scheme}): ${served.text.slice(0, 200)}`).not.toBe(401);
        expect(served.headers['www-authenticate'], label).toBeUndefined();
      }
    });
  }

  it('lets MCP initialize with the token, at /v1/mcp and /v1/mcp/', async () => {
    for (const path of ['/v1/mcp', '/v1/mcp/']) {
      const response = await send({ method: 'POST', path, body: mcpInitialize }, `Bearer ${TOKEN}`);
      expect(response.status, `${path}: ${response.text.slice(0, 200)}`).toBe(200);
      expect(response.text).toMatch(/"protocolVersion"/);
    }
  });

  it('serves the right token (also with surrounding spaces) and writes nothing without it', async () => {
    const refused = await rawRequest(server.url, 'PUT', '/v1/files/auth/never.txt', { body: 'x' });
    expect(refused.status).toBe(401);
    const listed = await rawRequest(server.url, 'GET', '/v1/files', { headers: { authorization: `Bearer   ${TOKEN}  ` } });
    expect(listed.status).toBe(200);
    expect(listed.json.files.map((file: { path: string }) => file.path)).not.toContain('auth/never.txt');
  });

  it('works with the official openai client: the token as apiKey passes, a wrong one is an AuthenticationError', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toContain('scripted-a');
    const transcription = await client.audio.transcriptions.create({ file: new File([tone], 'a.wav'), model: 'scripted-a' });
    expect(transcription.text).toBe('the quick.');
    const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: WRONG, maxRetries: 0 });
    const error = await wrong.models.list().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
    expect((error as Error).message).toMatch(/invalid bearer token/);
  });

  it('never logs the token, right or wrong', () => {
    const logs = logLines.join('');
    expect(logs).toMatch(/request refused/);
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain(WRONG);
    expect(logs.toLowerCase()).not.toContain('authorization":');
  });
});

describe('TALKIES_AUTH_TOKEN', () => {
  it('is trimmed, and empty or blank leaves the server open', () => {
    expect(loadConfig({ TALKIES_AUTH_TOKEN: '  abc \n' }).authToken).toBe('abc');
    expect(loadConfig({ TALKIES_AUTH_TOKEN: '   ' }).authToken).toBe('');
    expect(loadConfig({}).authToken).toBe('');
  });
});
