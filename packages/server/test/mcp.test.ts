import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, SCRIPTED, makeTone, startTestServer, type TestServer } from './test-server.js';

const TOOLS = ['delete_file', 'get_file', 'list_files', 'list_models', 'put_file', 'transcribe'];
/** What the scripted engine hears in 5 s of audio, rendered as each format. */
const JSON_TRANSCRIPT = '{"text":"the quick. quick brown."}';
const SRT_TRANSCRIPT = '1\n00:00:00,000 --> 00:00:02,000\nthe quick.\n\n2\n00:00:02,000 --> 00:00:04,000\nquick brown.\n';
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const TOOLS_LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

/** A connected SDK client; closed after the test unless `keep` (then the caller closes it). */
async function connect(url: string, headers?: Record<string, string>, keep = false): Promise<Client> {
  const client = new Client({ name: 'talkies-server-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), headers ? { requestInit: { headers } } : undefined));
  if (!keep) clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  if (first?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result.content)}`);
  return first.text;
}

describe('/v1/mcp', () => {
  let server: TestServer;
  let client: Client;
  let tone: Buffer;

  beforeAll(async () => {
    server = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED }, espeak: ESPEAK });
    tone = await readFile(await makeTone(join(server.dataDir, 'tone.wav'), 5));
  });
  beforeAll(async () => {
    client = await connect(`${server.url}/v1/mcp`, undefined, true);
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it('serves the same six tools at /v1/mcp and /v1/mcp/', async () => {
    expect(client.getServerVersion()?.name).toBe('talkies');
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
    const slashed = await connect(`${server.url}/v1/mcp/`);
    expect((await slashed.listTools()).tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
  });

  it('answers the bare path directly, never with a redirect', async () => {
    for (const path of ['/v1/mcp', '/v1/mcp/', '/v1/mcp?x=1']) {
      const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: MCP_HEADERS, body: TOOLS_LIST, redirect: 'manual' });
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await response.json()) as { result: { tools: unknown[] } }).result.tools).toHaveLength(6);
    }
  });

  it('list_models shows the ASR models only', async () => {
    const result = await call(client, 'list_models');
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(text(result))).toEqual({
      models: [{ slug: 'scripted-a', executor: 'scripted', default_source_lang: null, default_target_lang: null, default_task: 'asr', loaded: false, aliases: [] }],
    });
  });

  it('stages a file with put_file; list_files and GET /v1/files show it', async () => {
    const put = await call(client, 'put_file', { path: '/calls/tone.wav', content_base64: tone.toString('base64') });
    expect(put.isError).toBeFalsy();
    expect(JSON.parse(text(put))).toEqual({ path: 'calls/tone.wav', size: tone.byteLength });
    const listed = JSON.parse(text(await call(client, 'list_files'))) as { files: { path: string; size: number; modified: string }[] };
    expect(listed.files).toEqual([{ path: 'calls/tone.wav', size: tone.byteLength, modified: expect.stringMatching(/Z$/) }]);
    const http = (await (await fetch(`${server.url}/v1/files`)).json()) as { files: unknown[] };
    expect(http.files).toEqual(listed.files);
  });

  it('transcribes a staged file by file_path, loading the model into the shared pool', async () => {
    const result = await call(client, 'transcribe', { file_path: 'calls/tone.wav', model: 'scripted-a' });
    expect(result.isError).toBeFalsy();
    expect(text(result)).toBe(JSON_TRANSCRIPT);
    expect(result.structuredContent).toEqual({ text: 'the quick. quick brown.' });

    const ps = (await (await fetch(`${server.url}/api/ps`)).json()) as { models: { id: string; loaded: boolean }[] };
    expect(ps.models.map((model) => model.id)).toEqual(['scripted-a']);
    const models = JSON.parse(text(await call(client, 'list_models'))) as { models: { loaded: boolean }[] };
    expect(models.models[0]!.loaded).toBe(true);
  });

  it('transcribes inline audio sent as file_base64', async () => {
    const result = await call(client, 'transcribe', { file_base64: tone.toString('base64'), model: 'scripted-a', language: 'de' });
    expect(result.isError).toBeFalsy();
    expect(text(result)).toBe(JSON_TRANSCRIPT);
    const verbose = await call(client, 'transcribe', {
      file_base64: tone.toString('base64'),
      model: 'scripted-a',
      language: 'de',
      response_format: 'verbose_json',
    });
    expect(JSON.parse(text(verbose))).toMatchObject({ task: 'transcribe', language: 'de', text: 'the quick. quick brown.' });
  });

  it('renders srt as raw text', async () => {
    const result = await call(client, 'transcribe', { file_path: 'calls/tone.wav', model: 'scripted-a', response_format: 'srt' });
    expect(result.isError).toBeFalsy();
    expect(text(result)).toBe(SRT_TRANSCRIPT);
    expect(result.structuredContent).toBeUndefined();
  });

  it('refuses a TTS model, an unknown model, a bad format and a missing file as tool errors', async () => {
    const tts = await call(client, 'transcribe', { file_path: 'calls/tone.wav', model: 'espeak' });
    expect(tts.isError).toBe(true);
    expect(text(tts)).toMatch(/^model 'espeak' is not an ASR model — use \/v1\/audio\/speech/);
    const unknown = await call(client, 'transcribe', { file_path: 'calls/tone.wav', model: 'nope' });
    expect(text(unknown)).toBe("unknown model 'nope'; configured: scripted-a, espeak");
    const format = await call(client, 'transcribe', { file_path: 'calls/tone.wav', model: 'scripted-a', response_format: 'docx' });
    expect(format.isError).toBe(true);
    expect(text(format)).toMatch(/docx/);
    const missing = await call(client, 'transcribe', { file_path: 'calls/none.wav', model: 'scripted-a' });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/not found: calls\/none\.wav/);
    const neither = await call(client, 'transcribe', { model: 'scripted-a' });
    expect(neither.isError).toBe(true);
  });

  it('diarization on a mono file is a tool error that counts the channels', async () => {
    const result = await call(client, 'transcribe', { file_path: 'calls/tone.wav', model: 'scripted-a', diarization: true });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/got 1 channel/);
  });

  it('get_file round-trips the bytes', async () => {
    const result = await call(client, 'get_file', { path: 'calls/tone.wav' });
    const file = JSON.parse(text(result)) as { path: string; size: number; content_base64: string };
    expect(file.path).toBe('calls/tone.wav');
    expect(file.size).toBe(tone.byteLength);
    expect(Buffer.from(file.content_base64, 'base64').equals(tone)).toBe(true);
  });

  it('refuses bad base64 and unsafe paths as tool errors', async () => {
    const bad = await call(client, 'put_file', { path: 'x.wav', content_base64: 'UklGR*==' });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^content_base64 is not valid base64: character '\*' at offset 5/);
    const unpadded = await call(client, 'put_file', { path: 'x.wav', content_base64: 'UklGRg' });
    expect(text(unpadded)).toMatch(/^content_base64 is not valid base64: /);
    const traversal = await call(client, 'put_file', { path: 'a/../../x.wav', content_base64: 'AAAA' });
    expect(traversal.isError).toBe(true);
    expect(text(traversal)).toMatch(/forbidden segment '\.\.'/);
    const listed = JSON.parse(text(await call(client, 'list_files'))) as { files: { path: string }[] };
    expect(listed.files.map((file) => file.path)).toEqual(['calls/tone.wav']);
  });

  it('delete_file removes the file and its empty folder', async () => {
    const result = await call(client, 'delete_file', { path: 'calls/tone.wav' });
    expect(JSON.parse(text(result))).toEqual({ deleted: 'calls/tone.wav' });
    expect(JSON.parse(text(await call(client, 'list_files')))).toEqual({ files: [] });
    const again = await call(client, 'get_file', { path: 'calls/tone.wav' });
    expect(again.isError).toBe(true);
    expect(text(again)).toMatch(/^file not found: calls\/tone\.wav/);
  });

  it('answers GET and DELETE with 405 and a JSON-RPC error', async () => {
    for (const method of ['GET', 'DELETE']) {
      for (const path of ['/v1/mcp', '/v1/mcp/']) {
        const response = await fetch(`${server.url}${path}`, { method, headers: { accept: 'application/json, text/event-stream' } });
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
      }
    }
  });

  it('sends a body that is not JSON through the error middleware', async () => {
    const response = await fetch(`${server.url}/v1/mcp`, { method: 'POST', headers: MCP_HEADERS, body: '{"jsonrpc":' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_request' }, detail: expect.stringMatching(/not valid JSON/) });
  });
});

describe('/v1/mcp with a bearer token, CORS and a small upload cap', () => {
  const TOKEN = 'mcp-test-token';
  const MAX = 4096;
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } }, {
      authToken: TOKEN,
      maxUploadBytes: MAX,
      corsOrigins: ['http://app.example'],
    });
  });
  afterAll(() => server?.stop());

  it('refuses an MCP client without the token with 401', async () => {
    for (const path of ['/v1/mcp', '/v1/mcp/']) {
      const failure = await connect(`${server.url}${path}`).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StreamableHTTPError);
      expect((failure as StreamableHTTPError).code).toBe(401);
      const wrong = await connect(`${server.url}${path}`, { Authorization: 'Bearer wrong' }).catch((error: unknown) => error);
      expect((wrong as StreamableHTTPError).code).toBe(401);
    }
    const response = await fetch(`${server.url}/v1/mcp`, { method: 'POST', headers: MCP_HEADERS, body: TOOLS_LIST });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('serves an MCP client that sends the token', async () => {
    const client = await connect(`${server.url}/v1/mcp`, { Authorization: `Bearer ${TOKEN}` });
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
    const put = await call(client, 'put_file', { path: 'small.bin', content_base64: Buffer.alloc(MAX).toString('base64') });
    expect(JSON.parse(text(put))).toEqual({ path: 'small.bin', size: MAX });
  });

  it('keeps the CORS headers set before the SDK writes the answer; preflight needs no token', async () => {
    const preflight = await fetch(`${server.url}/v1/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.example');
    const response = await fetch(`${server.url}/v1/mcp/`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, origin: 'http://app.example', authorization: `Bearer ${TOKEN}` },
      body: TOOLS_LIST,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://app.example');
  });

  it('caps put_file, file_base64 and get_file at the upload limit', async () => {
    const client = await connect(`${server.url}/v1/mcp/`, { Authorization: `Bearer ${TOKEN}` });
    const tooBig = Buffer.alloc(MAX + 1).toString('base64');
    const put = await call(client, 'put_file', { path: 'big.bin', content_base64: tooBig });
    expect(put.isError).toBe(true);
    expect(text(put)).toMatch(/^upload too large \(4097 bytes > 4096\)/);
    const inline = await call(client, 'transcribe', { file_base64: tooBig, model: 'scripted-a' });
    expect(text(inline)).toMatch(/^upload too large \(4097 bytes > 4096\)/);

    await mkdir(join(server.dataDir, 'files'), { recursive: true });
    await writeFile(join(server.dataDir, 'files', 'big.bin'), Buffer.alloc(MAX + 1));
    const get = await call(client, 'get_file', { path: 'big.bin' });
    expect(get.isError).toBe(true);
    expect(text(get)).toMatch(/^file too large to return over MCP \(4097 bytes > 4096\)/);
  });

  it('refuses a JSON body beyond a base64 upload of the cap with 413', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { padding: 'x'.repeat(2 * 1024 * 1024) } });
    const response = await fetch(`${server.url}/v1/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${TOKEN}` },
      body,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'payload_too_large' } });
  });
});
