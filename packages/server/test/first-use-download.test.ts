/**
 * A model whose files are not on disk is fetched from the (fake, loopback) hub the first
 * time a request needs it, even when the request first needs its voice catalog.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '@talkies/testkit';
import { writeTestModels, type TestModels } from '../../engine-kokoro/src/__fixtures__/test-models.js';
import { startTestServer, type TestServer } from './test-server.js';

const REPO = 'onnx-community/Kokoro-82M-v1.0-ONNX';
let models: TestModels;
let hub: FakeHub;
let server: TestServer;
const savedEndpoint = process.env.HF_ENDPOINT;

beforeAll(async () => {
  models = await writeTestModels();
  hub = await startFakeHub({ repos: { [REPO]: models.onnxCommunity } });
  process.env.HF_ENDPOINT = hub.url;
  server = await startTestServer({
    'kokoro-82m': { repo: REPO, executor: 'kokoro', modality: 'tts', default_voice: 'af_heart', engineOptions: { threads: 1 } },
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await hub?.close();
  await models?.remove();
  process.env.HF_ENDPOINT = savedEndpoint;
});

describe('download on first use through the speech route', () => {
  it('fetches the model, then checks the voice and speaks', async () => {
    const modelDir = join(server.dataDir, 'models', 'kokoro-82m');
    await expect(readdir(modelDir)).rejects.toThrow();
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const response = await client.audio.speech.create({ model: 'kokoro-82m', voice: 'af_heart', input: 'Hello there.', response_format: 'wav' });
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(bytes.length).toBeGreaterThan(1000);
    expect(await readdir(join(modelDir, 'voices'))).toContain('af_heart.bin');
    const unknown = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'kokoro-82m', input: 'Hi.', voice: 'nobody_here' }),
    });
    expect(unknown.status).toBe(400);
  });
});
