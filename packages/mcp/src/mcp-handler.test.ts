import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { base64DecodedLength, decodeBase64 } from './base64.js';
import { createMcpHandler } from './mcp-handler.js';
import type { McpTranscribeRequest, TalkiesMcpServices } from './services.js';

const MAX_BYTES = 64;

/** In-memory services: a map of staged files and a transcriber that reports what it got. */
function fakeServices() {
  const files = new Map<string, Uint8Array>();
  const transcribed: McpTranscribeRequest[] = [];
  const services: TalkiesMcpServices = {
    async listAsrModels() {
      return [
        { slug: 'tiny', executor: 'whisper', default_source_lang: null, default_target_lang: null, default_task: 'asr', loaded: false },
      ];
    },
    async transcribe(request) {
      transcribed.push(request);
      if (request.model !== 'tiny') throw new Error(`unknown model '${request.model}'; configured: tiny`);
      const size = request.source.kind === 'bytes' ? request.source.bytes.byteLength : -1;
      if (request.responseFormat === 'srt') return { body: '1\n00:00:00,000 --> 00:00:01,000\nhi\n', contentType: 'application/x-subrip' };
      return { body: JSON.stringify({ text: `heard ${size} ${request.language ?? '-'}` }), contentType: 'application/json' };
    },
    async listFiles() {
      return [...files].map(([path, bytes]) => ({ path, size: bytes.byteLength, modified: '2026-01-01T00:00:00Z' }));
    },
    async putFile(path, bytes) {
      files.set(path, bytes);
      return { path, size: bytes.byteLength };
    },
    async openFile(path) {
      const bytes = files.get(path);
      if (!bytes) throw new Error(`file not found: ${path}`);
      return { path, size: bytes.byteLength, read: async () => bytes };
    },
    async deleteFile(path) {
      if (!files.delete(path)) throw new Error(`file not found: ${path}`);
      return { deleted: path };
    },
  };
  return { services, files, transcribed };
}

let http: Server;
let url: URL;
const fake = fakeServices();
const clients: Client[] = [];

beforeAll(async () => {
  const handler = createMcpHandler(fake.services, { maxUploadBytes: MAX_BYTES });
  http = createServer((request, response) => void handler(request, response));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});
afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

async function connect(): Promise<Client> {
  const client = new Client({ name: 'talkies-mcp-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  return client;
}

async function call(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  const client = await connect();
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  if (first?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result.content)}`);
  return first.text;
}

describe('strict base64', () => {
  it('accepts padded standard base64 and computes the decoded length', () => {
    expect(base64DecodedLength('')).toBe(0);
    expect(base64DecodedLength('YQ==')).toBe(1);
    expect(base64DecodedLength('YWI=')).toBe(2);
    expect(base64DecodedLength('YWJj')).toBe(3);
    expect([...decodeBase64('YWJj', { field: 'x', maxBytes: 3 })]).toEqual([97, 98, 99]);
  });

  it.each([
    ['YQ', /not a multiple of 4/],
    ['YW J', /character " " at offset 2/],
    ['YWJ\n', /character "\\n" at offset 3/],
    ['YW-_', /character '-' at offset 2/],
    ['Y===', /character '=' at offset 1/],
  ])('rejects %j', (value, reason) => {
    expect(() => decodeBase64(value, { field: 'content_base64', maxBytes: 100 })).toThrow(/^content_base64 is not valid base64: /);
    expect(() => decodeBase64(value, { field: 'content_base64', maxBytes: 100 })).toThrow(reason);
  });

  it('refuses oversize content by its encoded length', () => {
    expect(() => decodeBase64('YWJj', { field: 'x', maxBytes: 2 })).toThrow('upload too large (3 bytes > 2)');
  });
});

describe('the MCP endpoint', () => {
  it('introduces itself as talkies with instructions and lists exactly six tools', async () => {
    const client = await connect();
    expect(client.getServerVersion()?.name).toBe('talkies');
    expect(client.getInstructions()).toMatch(/ASR.*file staging/s);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(
      ['delete_file', 'get_file', 'list_files', 'list_models', 'put_file', 'transcribe'].sort(),
    );
    const transcribe = tools.find((tool) => tool.name === 'transcribe')!;
    expect(transcribe.inputSchema.required).toEqual(['model']);
    expect(Object.keys(transcribe.inputSchema.properties ?? {})).toEqual([
      'file_path', 'file_base64', 'model', 'language', 'response_format', 'diarization',
    ]);
    for (const tool of tools) expect(tool.description?.length).toBeGreaterThan(20);
  });

  it('returns JSON results as text and structured content', async () => {
    const result = await call('list_models');
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(text(result))).toEqual(result.structuredContent);
    expect(result.structuredContent).toEqual({
      models: [{ slug: 'tiny', executor: 'whisper', default_source_lang: null, default_target_lang: null, default_task: 'asr', loaded: false }],
    });
  });

  it('stages, lists, reads back and deletes a file', async () => {
    const put = await call('put_file', { path: 'a/b.bin', content_base64: 'AAEC/w==' });
    expect(put.structuredContent).toEqual({ path: 'a/b.bin', size: 4 });
    expect((await call('list_files')).structuredContent).toEqual({ files: [{ path: 'a/b.bin', size: 4, modified: '2026-01-01T00:00:00Z' }] });
    const got = await call('get_file', { path: 'a/b.bin' });
    expect(JSON.parse(text(got))).toEqual({ path: 'a/b.bin', size: 4, content_base64: 'AAEC/w==' });
    expect((await call('delete_file', { path: 'a/b.bin' })).structuredContent).toEqual({ deleted: 'a/b.bin' });
    const missing = await call('get_file', { path: 'a/b.bin' });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toBe('file not found: a/b.bin');
  });

  it('refuses bad base64 and oversize uploads as tool errors', async () => {
    const bad = await call('put_file', { path: 'x.bin', content_base64: 'not base64!' });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^content_base64 is not valid base64: /);
    const big = await call('put_file', { path: 'x.bin', content_base64: Buffer.alloc(MAX_BYTES + 1).toString('base64') });
    expect(big.isError).toBe(true);
    expect(text(big)).toMatch(/^upload too large \(65 bytes > 64\)/);
    expect(fake.files.has('x.bin')).toBe(false);
  });

  it('refuses to return a file over the cap', async () => {
    fake.files.set('big.bin', new Uint8Array(MAX_BYTES + 1));
    const result = await call('get_file', { path: 'big.bin' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^file too large to return over MCP \(65 bytes > 64\)/);
    fake.files.delete('big.bin');
  });

  it('transcribes by file_path or file_base64, exactly one of them', async () => {
    const byPath = await call('transcribe', { file_path: 'a.wav', model: 'tiny' });
    expect(text(byPath)).toBe('{"text":"heard -1 -"}');
    expect(byPath.structuredContent).toEqual({ text: 'heard -1 -' });
    expect(fake.transcribed.at(-1)).toMatchObject({ source: { kind: 'file_path', value: 'a.wav' }, responseFormat: 'json', diarization: false });

    const byBytes = await call('transcribe', { file_base64: 'AAAA', model: 'tiny', language: null });
    expect(text(byBytes)).toBe('{"text":"heard 3 -"}');

    const srt = await call('transcribe', { file_path: 'a.wav', model: 'tiny', response_format: 'srt', language: 'de', diarization: true });
    expect(text(srt)).toBe('1\n00:00:00,000 --> 00:00:01,000\nhi\n');
    expect(srt.structuredContent).toBeUndefined();
    expect(fake.transcribed.at(-1)).toMatchObject({ language: 'de', diarization: true, responseFormat: 'srt' });

    const neither = await call('transcribe', { model: 'tiny' });
    expect(neither.isError).toBe(true);
    expect(text(neither)).toMatch(/file_path .* or as file_base64/);
    const both = await call('transcribe', { model: 'tiny', file_path: 'a.wav', file_base64: 'AAAA' });
    expect(text(both)).toBe('give either file_path or file_base64, not both');
    const badBase64 = await call('transcribe', { model: 'tiny', file_base64: 'AAA' });
    expect(text(badBase64)).toMatch(/^file_base64 is not valid base64: /);
  });

  it('turns service errors and invalid arguments into tool errors', async () => {
    const unknown = await call('transcribe', { file_path: 'a.wav', model: 'nope' });
    expect(unknown).toMatchObject({ isError: true });
    expect(text(unknown)).toBe("unknown model 'nope'; configured: tiny");
    const invalid = await call('put_file', { path: 3 });
    expect(invalid.isError).toBe(true);
    expect(text(invalid)).toMatch(/Invalid arguments for tool put_file/);
  });

  it('answers GET and DELETE with 405 and a JSON-RPC error (stateless)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(url, { method, headers: { accept: 'application/json, text/event-stream' } });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    }
  });

  it('answers with plain JSON and no session id', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    const body = (await response.json()) as { result: { tools: unknown[] } };
    expect(body.result.tools).toHaveLength(6);
  });
});
