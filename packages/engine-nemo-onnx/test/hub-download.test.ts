/**
 * Model download against a loopback fake hub: real HTTP, the variant's files only (the fp32
 * encoder's external data included), a missing variant named with what the repository offers,
 * and the downloaded model then runs.
 */
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { startFakeHub, type FakeHub } from '@talkies/testkit';
import engine from '../src/index.js';
import { createBackend, generatedModels, request, silentLogger } from './support/nemo-fixtures.js';

const REPO = 'talkies-test/parakeet-tdt-v3-onnx';
const SLUG = 'parakeet-test-tiny-v3';
const QWEN_REPO = 'talkies-test/canary-qwen-2.5b-onnx';
const TOKENIZER_REPO = 'talkies-test/Qwen3-1.7B';

describe('downloading a NeMo ONNX model from a (fake) Hugging Face hub', () => {
  let source: Awaited<ReturnType<typeof generatedModels>>;
  let target: Awaited<ReturnType<typeof generatedModels>>;
  let hub: FakeHub;
  const saved = process.env.HF_ENDPOINT;

  beforeAll(async () => {
    source = await generatedModels([SLUG, 'canary-qwen-test-tiny']);
    target = await generatedModels([]);
    const qwen = join(source.dataDir, 'models', 'canary-qwen-test-tiny');
    // The split export's repository has no tokenizer: it comes from the Qwen3 repository.
    await mkdir(join(source.dataDir, 'qwen3'));
    await rename(join(qwen, 'tokenizer.json'), join(source.dataDir, 'qwen3', 'tokenizer.json'));
    hub = await startFakeHub({
      repos: { [REPO]: join(source.dataDir, 'models', SLUG), [QWEN_REPO]: qwen, [TOKENIZER_REPO]: join(source.dataDir, 'qwen3') },
      extraFiles: { [REPO]: { 'nemo128.onnx': new Uint8Array(300).fill(1), 'README.md': new TextEncoder().encode('# card') } },
    });
    process.env.HF_ENDPOINT = hub.url;
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
    await hub?.close();
    await source?.remove();
    await target?.remove();
  });

  const context = (slug: string, precision: 'fp32' | 'int8') => ({
    fields: {},
    modelId: slug,
    entry: { repo: REPO, executor: 'parakeet' },
    options: engine.optionsSchema!.parse({ precision }),
    paths: { dataDir: target.dataDir, modelDir: join(target.dataDir, 'models', slug) },
    logger: silentLogger,
    signal: new AbortController().signal,
    now: () => 0,
  });

  it('talkies pull (download) fetches the fp32 files with the external data, and the model runs', async () => {
    await engine.download!(context('pulled-fp32', 'fp32'), {});
    expect((await readdir(join(target.dataDir, 'models', 'pulled-fp32'))).sort()).toEqual([
      'config.json', 'decoder_joint-model.onnx', 'encoder-model.onnx', 'encoder-model.onnx.data', 'vocab.txt',
    ]);
    expect(await engine.isDownloaded!(context('pulled-fp32', 'fp32'))).toBe(true);
    const backend = createBackend(target.dataDir, 'pulled-fp32', { repo: REPO });
    await backend.load();
    expect((await backend.transcribe(request(Float32Array.from({ length: 32000 }, (_, index) => Math.sin(index / 9))))).text.length).toBeGreaterThan(0);
    await backend.dispose();
  });

  it('first use downloads the int8 variant only', async () => {
    const backend = createBackend(target.dataDir, 'first-use-int8', { repo: REPO }, { precision: 'int8', download: true });
    await backend.load();
    expect((await readdir(join(target.dataDir, 'models', 'first-use-int8'))).sort()).toEqual([
      'config.json', 'decoder_joint-model.int8.onnx', 'encoder-model.int8.onnx', 'vocab.txt',
    ]);
    await backend.dispose();
  });

  it('canary-qwen: the split layout from its repository, the tokenizer from the dependency repository', async () => {
    const qwenContext = { ...context('pulled-qwen', 'fp32'), entry: { repo: QWEN_REPO, executor: 'canary_salm', dependencies: [TOKENIZER_REPO] } };
    await engine.download!(qwenContext, {});
    expect((await readdir(join(target.dataDir, 'models', 'pulled-qwen'))).sort()).toEqual([
      'config.json', 'decoder-model.onnx', 'embed-tokens.onnx', 'encoder-model.onnx', 'tokenizer.json',
    ]);
    expect(await engine.isDownloaded!(qwenContext)).toBe(true);
    const backend = createBackend(target.dataDir, 'pulled-qwen', { repo: QWEN_REPO, executor: 'canary_salm' });
    await backend.load();
    expect((await backend.transcribe(request(Float32Array.from({ length: 32000 }, (_, index) => Math.sin(index / 9))))).text.length).toBeGreaterThan(0);
    await backend.dispose();
  });

  it('a repository of another family is a 503 that says so', async () => {
    {
      const error = await engine
        .download!({ ...context('wrong-family', 'fp32'), entry: { repo: REPO, executor: 'canary_multitask' } }, {})
        .catch((caught: unknown) => caught);
      expect(SpeechError.is(error) && error.status).toBe(503);
      expect((error as Error).message).toContain('decoder-model.onnx');
      expect((error as Error).message).toContain("onnx-asr export for the 'canary_multitask' executor");
    }
  });
});
