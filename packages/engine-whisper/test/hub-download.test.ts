/**
 * Model download against a loopback fake hub: real HTTP, redirects, Range resumption after
 * a dropped connection, a 404 for a missing variant, HF_ENDPOINT and HF_TOKEN.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { downloadModel, type DownloadProgress } from '../src/hub-download.js';
import { startFakeHub, type FakeHub } from './support/fake-hub.js';
import { createBackend, generatedModels, request } from './support/whisper-fixtures.js';

const REPO = 'talkies-test/whisper-tiny';
const TOKEN = 'hf_loopback_token';

describe('downloading a Whisper model from a (fake) Hugging Face hub', () => {
  let source: Awaited<ReturnType<typeof generatedModels>>;
  let target: Awaited<ReturnType<typeof generatedModels>>;
  let hub: FakeHub;
  const saved = { endpoint: process.env.HF_ENDPOINT, token: process.env.HF_TOKEN };
  let counter = 0;
  const fresh = () => join(target.dataDir, 'models', `whisper-download-${++counter}`);

  beforeAll(async () => {
    source = await generatedModels(['whisper-test-tiny']);
    target = await generatedModels([]);
    hub = await startFakeHub({
      repos: { [REPO]: join(source.dataDir, 'models', 'whisper-test-tiny') },
      // Other precisions exist in the repo (small stand-ins); q4 does not.
      extraFiles: {
        [REPO]: {
          'onnx/encoder_model_fp16.onnx': new Uint8Array(1000).fill(1),
          'onnx/decoder_model_merged_fp16.onnx': new Uint8Array(2000).fill(2),
          'onnx/encoder_model_quantized.onnx': new Uint8Array(500).fill(3),
          'onnx/decoder_model_merged_quantized.onnx': new Uint8Array(700).fill(4),
          'README.md': new TextEncoder().encode('# a model card'),
        },
      },
      token: TOKEN,
    });
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_TOKEN = TOKEN;
  });

  afterEach(() => {
    hub.dropAfterHalf.clear();
    hub.hidden.clear();
  });

  afterAll(async () => {
    if (saved.endpoint === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved.endpoint;
    if (saved.token === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved.token;
    await hub?.close();
    await source?.remove();
    await target?.remove();
  });

  it('fetches only the variant’s files through redirects, resumes a dropped file, and the model then runs', async () => {
    const modelDir = fresh();
    hub.requests.length = 0;
    hub.dropAfterHalf.set('onnx/decoder_model_merged.onnx', 1);
    const progress: DownloadProgress[] = [];
    const summary = await downloadModel({ modelId: 'whisper-download', repo: REPO, modelDir, precision: 'fp32', onProgress: (event) => progress.push(event) });

    const expected = ['config.json', 'generation_config.json', 'onnx/decoder_model_merged.onnx', 'onnx/encoder_model.onnx', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json'];
    const written = (await readdir(modelDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(modelDir.length + 1)).sort();
    expect(written).toEqual(expected);
    expect(summary.files.sort()).toEqual(expected);
    for (const file of expected) {
      expect(Buffer.compare(await readFile(join(modelDir, file)), await readFile(join(source.dataDir, 'models', 'whisper-test-tiny', file)))).toBe(0);
    }
    // The staging directory is gone; nothing of other precisions was fetched.
    await expect(stat(`${modelDir}.download`)).rejects.toThrow();
    expect(hub.requests.some((entry) => entry.path.includes('_fp16') || entry.path.includes('README'))).toBe(false);
    // Redirects were followed to the file server, and the dropped file resumed with a Range request.
    expect(hub.requests.some((entry) => entry.path.startsWith('/cdn/'))).toBe(true);
    const decoderRanges = hub.requests.filter((entry) => entry.path.endsWith('/decoder_model_merged.onnx') && entry.path.startsWith('/cdn/') && entry.range && entry.range !== 'bytes=0-0');
    expect(decoderRanges.length).toBeGreaterThan(0);
    expect(Number(/bytes=(\d+)-/.exec(decoderRanges.at(-1)!.range!)![1])).toBeGreaterThan(0);
    const decoderSize = (await stat(join(modelDir, 'onnx/decoder_model_merged.onnx'))).size;
    expect(progress.filter((event) => event.file === 'onnx/decoder_model_merged.onnx').at(-1)).toEqual({ file: 'onnx/decoder_model_merged.onnx', received: decoderSize, total: decoderSize, done: true });

    const backend = createBackend(target.dataDir, modelDir.split('/').pop()!);
    await backend.load();
    const result = await backend.transcribe(request(new Float32Array(16000), { language: 'en' }));
    expect(typeof result.text).toBe('string');
    await backend.dispose();
  });

  it('answers 503 naming the slug, the repo and what to do when the precision is not in the repo', async () => {
    const modelDir = fresh();
    const error = await downloadModel({ modelId: 'whisper-q4', repo: REPO, modelDir, precision: 'q4' }).catch((caught: unknown) => caught);
    expect(SpeechError.is(error)).toBe(true);
    const speechError = error as SpeechError;
    expect(speechError.status).toBe(503);
    expect(speechError.code).toBe('MODEL_UNAVAILABLE');
    expect(speechError.message).toContain("model 'whisper-q4'");
    expect(speechError.message).toContain(`${hub.url}/${REPO}`);
    expect(speechError.message).toContain('onnx/encoder_model_q4.onnx');
    expect(speechError.message).toMatch(/offers: fp32, fp16, q8/);
    expect(speechError.message).toContain('HF_ENDPOINT');
    expect(speechError.message).toContain(modelDir);
    await expect(stat(modelDir)).rejects.toThrow();
  });

  it('a file that answers 404 fails the download with no model directory left behind', async () => {
    const modelDir = fresh();
    hub.hidden.add('onnx/encoder_model.onnx');
    const error = (await downloadModel({ modelId: 'whisper-404', repo: REPO, modelDir, precision: 'fp32' }).catch((caught: unknown) => caught)) as SpeechError;
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toContain('onnx/encoder_model.onnx is not in the repository (HTTP 404)');
    await expect(stat(modelDir)).rejects.toThrow();
  });

  it('a connection that keeps dropping fails cleanly; the next attempt resumes the part instead of starting over', async () => {
    const modelDir = fresh();
    hub.dropAfterHalf.set('tokenizer.json', 100);
    const error = (await downloadModel({ modelId: 'whisper-flaky', repo: REPO, modelDir, precision: 'fp32', attempts: 2 }).catch((caught: unknown) => caught)) as SpeechError;
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toContain('tokenizer.json failed after 2 attempts');
    await expect(stat(modelDir)).rejects.toThrow();
    const partial = (await stat(join(`${modelDir}.download`, 'tokenizer.json.part'))).size;
    expect(partial).toBeGreaterThan(0);

    hub.dropAfterHalf.clear();
    hub.requests.length = 0;
    const tokenizerSize = (await stat(join(source.dataDir, 'models', 'whisper-test-tiny', 'tokenizer.json'))).size;
    const summary = await downloadModel({ modelId: 'whisper-flaky', repo: REPO, modelDir, precision: 'fp32' });
    expect(summary.files).toContain('tokenizer.json');
    const resumed = hub.requests.find((entry) => entry.path.endsWith('/tokenizer.json') && entry.path.startsWith('/cdn/') && entry.range !== 'bytes=0-0');
    expect(resumed?.range).toBe(`bytes=${partial}-${tokenizerSize - 1}`);
    expect((await stat(join(modelDir, 'tokenizer.json'))).size).toBe(tokenizerSize);
  });

  it('sends HF_TOKEN; a wrong token is refused with a 503 that says so', async () => {
    const error = (await downloadModel({ modelId: 'whisper-token', repo: REPO, modelDir: fresh(), precision: 'fp32', token: 'hf_wrong' }).catch((caught: unknown) => caught)) as SpeechError;
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toMatch(/access denied .*401/);
  });

  it('the backend downloads on load when files are missing, and refuses with 503 when downloads are off', async () => {
    const slug = 'whisper-on-load';
    const off = createBackend(target.dataDir, slug, { download: false }, REPO);
    const refused = (await off.load().catch((caught: unknown) => caught)) as SpeechError;
    expect(refused.status).toBe(503);
    expect(refused.message).toContain(`model '${slug}' is not on disk`);
    expect(refused.message).toContain(REPO);
    const on = createBackend(target.dataDir, slug, { download: true }, REPO);
    await on.load();
    expect((await on.transcribe(request(new Float32Array(8000), { language: 'en' }))).segments.length).toBeGreaterThan(0);
    await on.dispose();
  });
});
