import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/index.js';
import { rawRequest } from './raw-http.js';
import { ESPEAK, SCRIPTED, startTestServer, type TestServer } from './test-server.js';

const MODELS = { 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED }, espeak: ESPEAK };
const ALLOWED = 'https://a.example';
const OTHER = 'https://evil.example';

const preflight = (server: TestServer, origin: string, path = '/v1/audio/transcriptions', requestHeaders?: string) =>
  rawRequest(server.url, 'OPTIONS', path, {
    headers: {
      origin,
      'access-control-request-method': 'POST',
      ...(requestHeaders ? { 'access-control-request-headers': requestHeaders } : {}),
    },
  });

function corsHeaders(headers: Record<string, unknown>): string[] {
  return Object.keys(headers).filter((name) => name.startsWith('access-control-'));
}

describe('CORS off (the default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(MODELS);
  });
  afterAll(() => server?.stop());

  it('sends no CORS headers, whatever the origin', async () => {
    const response = await rawRequest(server.url, 'GET', '/v1/models', { headers: { origin: ALLOWED } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response.headers)).toEqual([]);
    expect(corsHeaders((await preflight(server, ALLOWED)).headers)).toEqual([]);
  });
});

describe('TALKIES_CORS_ORIGINS with a list', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(MODELS, { corsOrigins: [ALLOWED, 'https://b.example'], authToken: 'tok' });
  });
  afterAll(() => server?.stop());

  it('answers preflight from an allowed origin with 204 before auth', async () => {
    const response = await preflight(server, ALLOWED, '/v1/audio/transcriptions', 'authorization,content-type,x-stainless-os');
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(response.headers['access-control-allow-methods']).toBe('GET, HEAD, POST, PUT, DELETE, OPTIONS');
    expect(response.headers['access-control-allow-headers']).toBe('authorization,content-type,x-stainless-os');
    expect(response.headers['access-control-max-age']).toBe('600');
    expect(response.headers.vary).toMatch(/Origin/);
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    const plain = await preflight(server, 'https://b.example', '/v1/files/a.wav');
    expect(plain.status).toBe(204);
    expect(plain.headers['access-control-allow-headers']).toMatch(/^Authorization, Content-Type/);
  });

  it('marks answers to an allowed origin, errors included, and exposes the useful headers', async () => {
    const ok = await rawRequest(server.url, 'GET', '/v1/models', { headers: { origin: ALLOWED, authorization: 'Bearer tok' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(ok.headers.vary).toMatch(/Origin/);
    expect(ok.headers['access-control-expose-headers']).toMatch(/X-Sample-Rate/);
    expect(ok.headers['access-control-expose-headers']).toMatch(/WWW-Authenticate/);
    const refused = await rawRequest(server.url, 'GET', '/v1/models', { headers: { origin: ALLOWED } });
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(ALLOWED);
    const speech = await rawRequest(server.url, 'POST', '/v1/audio/speech', {
      headers: { origin: ALLOWED, authorization: 'Bearer tok', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'espeak', input: 'hi', response_format: 'pcm' }),
    });
    expect(speech.status).toBe(200);
    expect(speech.headers['x-sample-rate']).toBeDefined();
    expect(speech.headers['access-control-allow-origin']).toBe(ALLOWED);
  });

  it('gives a disallowed origin no CORS headers, and its preflight no pass around auth', async () => {
    const response = await rawRequest(server.url, 'GET', '/v1/models', { headers: { origin: OTHER, authorization: 'Bearer tok' } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response.headers)).toEqual([]);
    expect(response.headers.vary).toMatch(/Origin/);
    const blocked = await preflight(server, OTHER);
    expect(blocked.status).not.toBe(204);
    expect(corsHeaders(blocked.headers)).toEqual([]);
    expect(corsHeaders((await preflight(server, 'https://a.example.evil.example')).headers)).toEqual([]);
    expect(corsHeaders((await preflight(server, 'http://a.example')).headers)).toEqual([]);
  });
});

describe('TALKIES_CORS_ORIGINS=*', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(MODELS, { corsOrigins: '*' });
  });
  afterAll(() => server?.stop());

  it('echoes any origin', async () => {
    const response = await rawRequest(server.url, 'GET', '/healthz', { headers: { origin: OTHER } });
    expect(response.headers['access-control-allow-origin']).toBe(OTHER);
    expect((await preflight(server, 'http://localhost:5173')).headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(corsHeaders((await rawRequest(server.url, 'GET', '/healthz')).headers)).toEqual([]);
  });
});

describe('TALKIES_CORS_ORIGINS parsing', () => {
  it('accepts origins and *, refuses anything else', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ TALKIES_CORS_ORIGINS: ' https://a.example , http://localhost:5173/ ,' }).corsOrigins).toEqual([
      'https://a.example',
      'http://localhost:5173',
    ]);
    expect(loadConfig({ TALKIES_CORS_ORIGINS: 'https://A.example:443' }).corsOrigins).toEqual(['https://a.example']);
    expect(loadConfig({ TALKIES_CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(() => loadConfig({ TALKIES_CORS_ORIGINS: 'a.example' })).toThrow(/TALKIES_CORS_ORIGINS.*'a.example' is not an origin/);
    expect(() => loadConfig({ TALKIES_CORS_ORIGINS: 'https://a.example/app' })).toThrow(/is not an origin/);
    expect(() => loadConfig({ TALKIES_CORS_ORIGINS: 'ftp://a.example' })).toThrow(/is not an origin/);
    expect(() => loadConfig({ TALKIES_CORS_ORIGINS: '*, https://a.example' })).toThrow(/cannot be mixed/);
  });
});
