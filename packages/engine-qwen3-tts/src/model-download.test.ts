import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineContext, ModelEntry } from '@talkies/core';
import { startFakeHub, type FakeHub } from '@talkies/testkit';
import engine from './index.js';
import type { Qwen3Backend } from './qwen3-backend.js';
import type { Qwen3Options } from './qwen3-options.js';
import { writeModel } from './testing/index.js';

const BASE_REPO = 'fixtures/Qwen3-TTS-12Hz-0.6B-Base-ONNX';
const DESIGN_REPO = 'fixtures/Qwen3-TTS-12Hz-1.7B-VoiceDesign-ONNX';
let hub: FakeHub;
let root: string;
const saved = process.env.HF_ENDPOINT;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qwen3-download-'));
  await writeModel(join(root, 'repos', 'base'), 'base', '0b6');
  await writeModel(join(root, 'repos', 'design'), 'voice_design', '1b7');
  hub = await startFakeHub({
    repos: { [BASE_REPO]: join(root, 'repos', 'base'), [DESIGN_REPO]: join(root, 'repos', 'design') },
    // Files the engine never reads must not be fetched.
    extraFiles: { [DESIGN_REPO]: { 'README.md': new Uint8Array(8), 'speaker_encoder.onnx': new Uint8Array(64), 'talker_decode_fp16.onnx': new Uint8Array(64) } },
  });
  process.env.HF_ENDPOINT = hub.url;
});

afterAll(async () => {
  if (saved === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = saved;
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function context(slug: string, repo: string, mode: string): EngineContext<Qwen3Options> {
  return {
    modelId: slug,
    entry: { repo, executor: 'qwen3_tts', qwen3_mode: mode } as ModelEntry,
    options: { threads: 1 },
    fields: {},
    paths: { dataDir: join(root, 'data'), modelDir: join(root, 'data', 'models', slug) },
    logger: silent,
    signal: new AbortController().signal,
    now: () => 0,
  };
}

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1)).sort();
}

describe('downloading a Qwen3-TTS export from a (fake) Hugging Face hub', () => {
  it('talkies pull: only the files the mode reads, then the model is reported as downloaded', async () => {
    const design = context('design', DESIGN_REPO, 'voice_design');
    expect(await engine.isDownloaded!(design)).toBe(false);
    await engine.download!(design, {});
    const files = await filesUnder(design.paths.modelDir);
    expect(files).toEqual(
      ['code_predictor.onnx', 'code_predictor_embed.onnx', 'codec_embed.onnx', 'config.json', 'merges.txt', 'talker_decode.onnx', 'talker_prefill.onnx', 'text_project.onnx', 'tokenizer12hz_decode.onnx', 'tokenizer_config.json', 'vocab.json'].sort(),
    );
    expect(await engine.isDownloaded!(design)).toBe(true);
  });

  it('first load of a base model downloads it with its voices, and it speaks', async () => {
    const base = context('base', BASE_REPO, 'base');
    const backend = engine.createBackend(base) as Qwen3Backend;
    await backend.load();
    try {
      const files = await filesUnder(base.paths.modelDir);
      expect(files).toContain('speaker_encoder.onnx');
      expect(files).toContain('tokenizer12hz_encode.onnx');
      expect(files).toContain('voices/alloy.wav');
      expect(files).toContain('voices/alloy.txt');
      expect((await backend.voices()).map((voice) => voice.id)).toEqual(['alloy', 'echo', 'fable']);
      let samples = 0;
      for await (const block of backend.synthesizeStream({ text: 'Hi.', voice: 'echo', speed: 1, extra: { max_new_tokens: 3 }, signal: new AbortController().signal })) samples += block.samples.length;
      expect(samples).toBe(3 * 1920);
    } finally {
      await backend.dispose();
    }
  });

  it('a repository without the split export is refused with the recipe named', async () => {
    const wrong = context('wrong', 'fixtures/not-there', 'custom_voice');
    await expect(engine.download!(wrong, {})).rejects.toThrow();
    const backend = engine.createBackend({ ...wrong, options: { threads: 1, download: false } });
    await expect(backend.load()).rejects.toThrow(/docs\/qwen3-tts-export\.md/);
  });
});
