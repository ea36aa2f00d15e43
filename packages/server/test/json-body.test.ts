/**
 * The speech route reads a plain JSON body (`application/json`, a Content-Length, no
 * compression) itself and leaves every other JSON request to koa-body. Both must give the
 * same answers: each body below is sent once as `application/json` (read by
 * json-body.ts) and once as `application/vnd.api+json`, a JSON type koa-body (co-body,
 * raw-body, @hapi/bourne) reads, and the two answers are compared, status and body.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, startTestServer, type TestServer } from './test-server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ espeak: ESPEAK });
});
afterAll(() => server?.stop());

async function post(body: Uint8Array, contentType: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${server.url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) };
}

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));

/** Bodies that end before synthesis: every answer is an error whose text shows what was parsed. */
const CASES: Record<string, Uint8Array> = {
  'broken JSON': utf8('{"model": '),
  'an empty body': utf8(''),
  'a top-level string': utf8('"espeak"'),
  'a top-level null': utf8('null'),
  'an array': utf8('[1, 2]'),
  'leading blanks before an object': utf8(' \n\t{"model": "nope", "input": "hi"}'),
  'a byte order mark': utf8('\uFEFF{"model": 5, "input": "hi"}'),
  'a __proto__ key': utf8('{"__proto__": {"polluted": true}, "model": "espeak", "input": "hi"}'),
  'a nested, escaped __proto__ key': utf8('{"model": "espeak", "input": "hi", "extra": [{"\\u005f_pr\\u006fto__": 1}]}'),
  '__proto__ inside a string only': utf8('{"model": "nope", "input": "\\"__proto__\\": is just text"}'),
  'invalid UTF-8 in a string': new Uint8Array([...Buffer.from('{"model": "n'), 0xff, 0xfe, ...Buffer.from('pe", "input": "hi"}')]),
  'an unknown model': utf8(JSON.stringify({ model: 'nope', input: 'hi', voice: 'alloy' })),
  'a wrong field type': utf8(JSON.stringify({ model: 'espeak', input: 'hi', speed: 'fast' })),
  'a body of many chunks': utf8(JSON.stringify({ model: 'espeak', input: 'a'.repeat(100_001) })),
};

describe('a plain JSON body is read like koa-body reads it', () => {
  for (const [name, body] of Object.entries(CASES)) {
    it(name, async () => {
      const plain = await post(body, 'application/json');
      const general = await post(body, 'application/vnd.api+json');
      expect(plain).toEqual(general);
      expect(plain.status).toBeGreaterThanOrEqual(400);
    });
  }

  it('takes a charset=utf-8 parameter as plain JSON too', async () => {
    const body = utf8(JSON.stringify({ model: 'nope', input: 'hi' }));
    expect(await post(body, 'application/json; charset=utf-8')).toEqual(await post(body, 'application/vnd.api+json'));
  });

  it('refuses what it must refuse, with the messages clients rely on', async () => {
    expect((await post(CASES['broken JSON']!, 'application/json')).status).toBe(400);
    expect(JSON.stringify((await post(CASES['broken JSON']!, 'application/json')).body)).toMatch(/not valid JSON/);
    expect(JSON.stringify((await post(CASES['a __proto__ key']!, 'application/json')).body)).toMatch(/forbidden prototype property/);
    expect(JSON.stringify((await post(CASES['a top-level string']!, 'application/json')).body)).toMatch(/only supports object and array/);
    // A BOM is dropped and the object is read: the answer is about the model field, not the JSON.
    expect((await post(CASES['a byte order mark']!, 'application/json')).status).toBe(422);
  });

  it('survives a client that sends less than its Content-Length and goes away', async () => {
    await new Promise<void>((resolve) => {
      const request = http.request(`${server.url}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': '100' },
      });
      request.on('error', () => resolve());
      request.on('response', () => resolve());
      request.write('{"model": "esp', () => request.destroy());
    });
    const after = await post(utf8(JSON.stringify({ model: 'nope', input: 'hi' })), 'application/json');
    expect(after.status).toBe(404);
  });
});
