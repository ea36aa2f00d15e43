/** Kokoro models that are not on disk come from the (fake, loopback) Hugging Face hub on load and via the engine's `download` hook. */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { startFakeHub, type FakeHub } from '@talkies/testkit';
import { createBackend, signal, writeTestModels, type TestModels } from './__fixtures__/test-models.js';
import engine from './index.js';

const ONNX_REPO = 'onnx-community/Kokoro-82M-v1.0-ONNX';
const NVIDIA_REPO = 'nvidia/kokoro-82M-onnx-opt';

let models: TestModels;
let hub: FakeHub;
let dataDir: string;
const saved = { endpoint: process.env.HF_ENDPOINT, token: process.env.HF_TOKEN };

beforeAll(async () => {
  models = await writeTestModels();
  hub = await startFakeHub({
    repos: { [ONNX_REPO]: models.onnxCommunity, [NVIDIA_REPO]: models.nvidia },
    // Other precisions and files the engine never reads must not be fetched.
    extraFiles: { [ONNX_REPO]: { 'onnx/model_fp16.onnx': new Uint8Array(64), 'README.md': new Uint8Array(8) } },
  });
  dataDir = await mkdtemp(join(tmpdir(), 'kokoro-download-test-'));
  process.env.HF_ENDPOINT = hub.url;
  delete process.env.HF_TOKEN;
});

afterAll(async () => {
  if (saved.endpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = saved.endpoint;
  if (saved.token !== undefined) process.env.HF_TOKEN = saved.token;
  await hub?.close();
  await models?.remove();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1)).sort();
}

describe('downloading a Kokoro model from a (fake) Hugging Face hub', () => {
  it('onnx-community: a model missing locally is downloaded on load (only the files the engine reads) and then synthesises', async () => {
    const modelDir = join(dataDir, 'kokoro-82m');
    const backend = createBackend(modelDir, 'kokoro');
    try {
      await backend.load();
      const files = await filesUnder(modelDir);
      expect(files).toContain('onnx/model.onnx');
      expect(files).toContain('tokenizer.json');
      expect(files).toContain('voices/af_heart.bin');
      expect(files).toContain('voices/bf_emma.bin');
      expect(files).toContain('config.json');
      // Not the other precision, not files the engine never reads, not the ja/zh voices outside the catalog.
      expect(files).not.toContain('onnx/model_fp16.onnx');
      expect(files).not.toContain('README.md');
      expect(files).not.toContain('tokenizer_config.json');
      expect(files).not.toContain('voices/jf_alpha.bin');
      await expect(stat(`${modelDir}.download`)).rejects.toThrow();
      const result = await backend.synthesize({ text: 'Downloaded and speaking.', voice: 'af_heart', speed: 1, signal: signal() });
      expect(result.sampleRate).toBe(24000);
      expect(result.samples.length).toBeGreaterThan(0);
    } finally {
      await backend.dispose();
    }
  });

  it('nvidia: the engine download hook (talkies pull) fetches the four files, then the model synthesises', async () => {
    const modelDir = join(dataDir, 'kokoro-82m-nvidia');
    const context = {
      modelId: 'kokoro-82m-nvidia',
      entry: { repo: NVIDIA_REPO, executor: 'kokoro_nvidia' } as never,
      options: {},
      fields: {},
      paths: { dataDir, modelDir },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      signal: signal(),
      now: () => 0,
    };
    expect(await engine.isDownloaded!(context)).toBe(false);
    const progress: string[] = [];
    const summary = (await engine.download!(context, { onProgress: (update) => update.done && progress.push(update.file) })) as { files: string[] };
    expect(summary.files.sort()).toEqual(['kokoro-82m-v1.0.onnx', 'tokens.txt', 'voices.bin', 'voices.txt']);
    expect(progress.sort()).toEqual(summary.files);
    expect(await engine.isDownloaded!(context)).toBe(true);
    const backend = createBackend(modelDir, 'kokoro_nvidia');
    try {
      await backend.load();
      const result = await backend.synthesize({ text: 'Pulled ahead of time.', voice: 'af_heart', speed: 1, signal: signal() });
      expect(result.samples.length).toBeGreaterThan(0);
    } finally {
      await backend.dispose();
    }
  });

  it('a precision the repository lacks fails the load with the downloader’s 503, naming the slug, the repo and what to do', async () => {
    const modelDir = join(dataDir, 'kokoro-82m-q8');
    const backend = createBackend(modelDir, 'kokoro', { dtype: 'q8' });
    const error = await backend.load().then(() => undefined, (caught: unknown) => caught);
    expect(SpeechError.is(error)).toBe(true);
    const speechError = error as SpeechError;
    expect(speechError.code).toBe('MODEL_UNAVAILABLE');
    expect(speechError.message).toContain("model 'kokoro-82m' could not be downloaded from");
    expect(speechError.message).toContain(ONNX_REPO);
    expect(speechError.message).toContain('onnx/model_quantized.onnx');
    expect(speechError.message).toMatch(/HF_ENDPOINT/);
    await expect(stat(modelDir)).rejects.toThrow();
  });

  it('refuses with 503 when downloads are off for the entry', async () => {
    const backend = createBackend(join(dataDir, 'kokoro-82m-off'), 'kokoro', { download: false });
    const error = await backend.load().then(() => undefined, (caught: unknown) => caught);
    expect((error as SpeechError).code).toBe('MODEL_UNAVAILABLE');
    expect((error as SpeechError).message).toMatch(/downloads are off/);
  });
});
