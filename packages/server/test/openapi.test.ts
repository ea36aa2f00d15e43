/**
 * GET /openapi.json: a valid OpenAPI 3.1 document (checked by a maintained validator)
 * that lists every route the server answers, whose request schemas are the routes' own
 * zod schemas, and whose response schemas match what the routes really send.
 */
import 'reflect-metadata';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  deletedFileResponseSchema,
  errorResponseSchema,
  healthResponseSchema,
  loadedModelsResponseSchema,
  modelListResponseSchema,
  stagedFileListResponseSchema,
  stagedFileResponseSchema,
  transcriptionResponseSchema,
  unloadAllResponseSchema,
  unloadOneResponseSchema,
  voiceListResponseSchema,
} from '../src/openapi.js';
import { speechRequestSchema } from '../src/speech-route.js';
import { ESPEAK, SCRIPTED, makeTone, readJson, startTestServer, type TestServer } from './test-server.js';

const TOKEN = 'openapi-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: TestServer;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let document: any;

beforeAll(async () => {
  server = await startTestServer({ 'scripted-o': { repo: 'fixtures/o', ...SCRIPTED }, espeak: ESPEAK }, { authToken: TOKEN });
  const response = await fetch(`${server.url}/openapi.json`, { headers: auth });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  document = await response.json();
});
afterAll(async () => {
  await server?.stop();
});

describe('GET /openapi.json', () => {
  it('needs the bearer token like every route', async () => {
    expect((await fetch(`${server.url}/openapi.json`)).status).toBe(401);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(document.openapi).toBe('3.1.0');
  });

  it('describes every route the server answers, and nothing else', () => {
    const operations = Object.entries(document.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(
      ([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        'GET /',
        'GET /playground/{file}',
        'GET /healthz',
        'GET /metrics',
        'GET /openapi.json',
        'GET /v1/models',
        'GET /v1/models/{id}',
        'GET /v1/audio/voices',
        'GET /api/ps',
        'DELETE /api/ps/{id}',
        'POST /unload',
        'POST /v1/audio/transcriptions',
        'POST /v1/audio/translations',
        'POST /v1/audio/speech',
        'GET /v1/files',
        'GET /v1/files/{path}',
        'PUT /v1/files/{path}',
        'DELETE /v1/files/{path}',
        'POST /v1/mcp',
      ].sort(),
    );
    // The paths come from the router: one it has but OPERATIONS lacks shows up marked.
    const undocumented = JSON.stringify(document).match(/"summary":"[^"]*\(not described yet\)"/g);
    expect(undocumented).toBeNull();
    const ids = Object.values(document.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) =>
      Object.values(item).map((operation) => operation.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('takes its request bodies from the zod schemas the routes validate with', () => {
    const speech = document.paths['/v1/audio/speech'].post.requestBody.content['application/json'].schema;
    const fromZod = z.toJSONSchema(speechRequestSchema, { io: 'input' }) as Record<string, unknown>;
    delete fromZod.$schema;
    expect(speech).toEqual(fromZod);
    expect(speech.required).toEqual(['model', 'input']);
    const transcription = document.paths['/v1/audio/transcriptions'].post.requestBody.content['multipart/form-data'].schema;
    expect(transcription.required).toEqual(['model']);
    expect(Object.keys(transcription.properties)).toEqual(
      expect.arrayContaining(['file', 'model', 'language', 'response_format', 'prompt', 'temperature', 'file_path']),
    );
    // Bearer auth everywhere except the health check and the playground page.
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.paths['/healthz'].get.security).toEqual([]);
    expect(document.paths['/'].get.security).toEqual([]);
    expect(document.paths['/v1/models'].get.security).toBeUndefined();
  });

  it('has response schemas that the real responses match', async () => {
    const get = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(`${server.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
      return { status: response.status, body: await readJson(response) };
    };
    const check = (schema: z.ZodType, value: unknown) => expect(schema.safeParse(value).error).toBeUndefined();

    check(healthResponseSchema, (await get('/healthz')).body);
    check(modelListResponseSchema, (await get('/v1/models')).body);
    const voices = await get('/v1/audio/voices');
    check(voiceListResponseSchema, voices.body);
    expect(voices.body.voices.length).toBeGreaterThan(0);

    const tone = await readFile(await makeTone(join(server.dataDir, 'tone.wav'), 2, ['-ar', '16000']));
    const put = await get('/v1/files/calls/a.wav', { method: 'PUT', body: new Uint8Array(tone) });
    expect(put.status).toBe(201);
    check(stagedFileResponseSchema, put.body);
    check(stagedFileListResponseSchema, (await get('/v1/files')).body);

    for (const format of ['json', 'verbose_json']) {
      const form = new FormData();
      form.set('model', 'scripted-o');
      form.set('file_path', 'calls/a.wav');
      form.set('response_format', format);
      const transcription = await get('/v1/audio/transcriptions', { method: 'POST', body: form });
      expect(transcription.status).toBe(200);
      check(transcriptionResponseSchema, transcription.body);
    }
    const ps = await get('/api/ps');
    check(loadedModelsResponseSchema, ps.body);
    expect(ps.body.models.length).toBe(1);
    check(unloadOneResponseSchema, (await get('/api/ps/scripted-o', { method: 'DELETE' })).body);
    check(unloadAllResponseSchema, (await get('/unload', { method: 'POST' })).body);
    check(deletedFileResponseSchema, (await get('/v1/files/calls/a.wav', { method: 'DELETE' })).body);

    const missing = await get('/v1/files/nope.wav');
    expect(missing.status).toBe(404);
    check(errorResponseSchema, missing.body);
    const invalid = await get('/v1/audio/speech', { method: 'POST', body: '{"model":"espeak"}', headers: { 'content-type': 'application/json' } });
    expect(invalid.status).toBe(422);
    check(errorResponseSchema, invalid.body);
  });
});
