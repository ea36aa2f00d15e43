/**
 * Model aliases (issue 8, item 7): clients that hard-code OpenAI's model names (`whisper-1`,
 * `tts-1`, `tts-1-hd`) reach the models a models.json maps them to, through every door:
 * the OpenAI SDK, /v1/models, /api/ps, the metrics and MCP.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, SCRIPTED, makeTone, readJson, startTestServer, type TestServer } from './test-server.js';

let server: TestServer;
let client: OpenAI;
let tone: string;

beforeAll(async () => {
  server = await startTestServer({
    'org/scripted-asr': { repo: 'fixtures/a', ...SCRIPTED, aliases: ['whisper-1'] },
    espeak: { ...ESPEAK, aliases: ['tts-1', 'tts-1-hd'] },
  });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  tone = await makeTone(join(server.dataDir, 'tone.wav'), 2);
});
afterAll(() => server?.stop());

async function loaded(): Promise<string[]> {
  return ((await readJson(await fetch(`${server.url}/api/ps`))).models as { id: string }[]).map((model) => model.id);
}

describe('model aliases', () => {
  it('whisper-1 transcribes with the model it names, and /api/ps shows the model', async () => {
    const text = await client.audio.transcriptions.create({ file: createReadStream(tone), model: 'whisper-1', response_format: 'text' });
    expect(text).toBe('the quick.');
    expect(await loaded()).toEqual(['org/scripted-asr']);
    // DELETE /api/ps takes the alias too.
    const unloaded = await fetch(`${server.url}/api/ps/whisper-1`, { method: 'DELETE' });
    expect(unloaded.status).toBe(200);
    expect(await readJson(unloaded)).toEqual({ unloaded: 'org/scripted-asr' });
    expect(await loaded()).toEqual([]);
  });

  it('tts-1 and tts-1-hd speak with the model they name, OpenAI voices included', async () => {
    for (const model of ['tts-1', 'tts-1-hd']) {
      const speech = await client.audio.speech.create({ model, voice: 'alloy', input: 'Hello.', response_format: 'wav' });
      const bytes = Buffer.from(await speech.arrayBuffer());
      expect(bytes.subarray(0, 4).toString('latin1'), model).toBe('RIFF');
      expect(bytes.length, model).toBeGreaterThan(1000);
    }
    expect(await loaded()).toEqual(['espeak']);
  });

  it('/v1/models lists each model once with its aliases; models.retrieve takes an alias', async () => {
    const list = await client.models.list();
    expect(list.data.map((model) => [model.id, (model as unknown as { aliases: string[] }).aliases])).toEqual([
      ['org/scripted-asr', ['whisper-1']],
      ['espeak', ['tts-1', 'tts-1-hd']],
    ]);
    expect(await client.models.retrieve('tts-1-hd')).toMatchObject({ id: 'espeak', modality: 'tts' });
    expect(await client.models.retrieve('whisper-1')).toMatchObject({ id: 'org/scripted-asr', modality: 'asr' });
    const wrongRoute = await client.audio.speech.create({ model: 'whisper-1', voice: 'alloy', input: 'x' }).catch((error: unknown) => error);
    expect((wrongRoute as APIError).status).toBe(400);
    expect((wrongRoute as APIError).message).toMatch(/not a TTS model/);
  });

  it('counts requests under the model, not as `other`', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/talkies_http_requests_total\{[^}]*model="org\/scripted-asr"[^}]*\} [1-9]/);
    expect(metrics).not.toMatch(/model="whisper-1"/);
  });

  it('MCP: list_models shows the aliases and transcribe takes one', async () => {
    const mcp = new Client({ name: 'talkies-alias-test', version: '0.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/v1/mcp`)));
    try {
      const listed = (await mcp.callTool({ name: 'list_models', arguments: {} })) as CallToolResult;
      expect(listed.structuredContent).toMatchObject({ models: [{ slug: 'org/scripted-asr', aliases: ['whisper-1'] }] });
      const { readFile } = await import('node:fs/promises');
      const result = (await mcp.callTool({
        name: 'transcribe',
        arguments: { model: 'whisper-1', file_base64: (await readFile(tone)).toString('base64') },
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toEqual({ text: 'the quick.' });
      expect(await loaded()).toContain('org/scripted-asr');
    } finally {
      await mcp.close();
    }
  });
});
