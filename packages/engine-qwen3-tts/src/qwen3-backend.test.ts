import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError, type EngineContext, type ModelEntry, type SpeechAudio } from '@talkies/core';
import { describeBackendConformance } from '@talkies/core/testing';
import engine from './index.js';
import { Qwen3Backend } from './qwen3-backend.js';
import type { Qwen3Options } from './qwen3-options.js';
import { referenceRecording, SAMPLES_PER_FRAME, wavFile, writeModel } from './testing/index.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qwen3-backend-'));
  await writeModel(join(root, 'models', 'custom'), 'custom_voice', '0b6');
  await writeModel(join(root, 'models', 'base'), 'base', '0b6');
});
afterAll(() => rm(root, { recursive: true, force: true }));

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function create(slug: 'custom' | 'base', entry: Partial<ModelEntry> = {}, options: Qwen3Options = { threads: 1 }): Qwen3Backend {
  const context: EngineContext<Qwen3Options> = {
    modelId: slug,
    entry: { repo: `fixtures/${slug}`, executor: 'qwen3_tts', qwen3_mode: slug === 'custom' ? 'custom_voice' : 'base', ...entry } as ModelEntry,
    options,
    fields: {},
    paths: { dataDir: root, modelDir: join(root, 'models', slug) },
    logger: silent,
    signal: new AbortController().signal,
    now: () => 0,
  };
  return engine.createBackend(context) as Qwen3Backend;
}

describeBackendConformance('qwen3_tts (custom voice)', { create: () => create('custom') });
describeBackendConformance('qwen3_tts (base, voice cloning)', { create: () => create('base') });

async function errorOf(promise: Promise<unknown>): Promise<SpeechError> {
  try {
    await promise;
  } catch (error) {
    if (SpeechError.is(error)) return error;
    throw error;
  }
  throw new Error('it succeeded');
}

async function drain(stream: AsyncIterable<SpeechAudio>): Promise<number> {
  let samples = 0;
  for await (const block of stream) samples += block.samples.length;
  return samples;
}

describe('the Qwen3-TTS backend', () => {
  it('refuses an entry without a valid qwen3_mode, naming the three', () => {
    expect(() => create('custom', { qwen3_mode: undefined })).toThrow(/qwen3_mode.*base.*custom_voice.*voice_design/);
    expect(() => create('custom', { qwen3_mode: 'karaoke' as never })).toThrow(/qwen3_mode/);
  });

  it('refuses to load when config.json and models.json disagree on the mode', async () => {
    const backend = create('custom', { qwen3_mode: 'voice_design' });
    const error = await errorOf(backend.load());
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.message).toMatch(/custom_voice checkpoint.*voice_design/);
  });

  it('says which instructions reach the model, per checkpoint', () => {
    expect(create('custom', { repo: 'x/Qwen3-TTS-12Hz-0.6B-CustomVoice' }).capabilities.instructions).toBe(false);
    expect(create('custom', { repo: 'x/Qwen3-TTS-12Hz-1.7B-CustomVoice' }).capabilities.instructions).toBe(true);
    expect(create('base', { repo: 'x/Qwen3-TTS-12Hz-0.6B-Base' }).capabilities.instructions).toBe(true);
  });

  it('stops generating when the request is aborted mid-stream, and serves the next request', async () => {
    const backend = create('custom');
    await backend.load();
    try {
      const controller = new AbortController();
      let blocks = 0;
      const error = await errorOf(
        (async () => {
          for await (const block of backend.synthesizeStream({ text: 'Hello there.', voice: 'Ryan', speed: 1, signal: controller.signal })) {
            expect(block.sampleRate).toBe(24000);
            if (++blocks === 1) controller.abort();
          }
        })(),
      );
      expect(error.code).toBe('ABORTED');
      const samples = await drain(backend.synthesizeStream({ text: 'Next.', voice: 'Ryan', speed: 1, extra: { max_new_tokens: 5 }, signal: new AbortController().signal }));
      expect(samples).toBe(5 * SAMPLES_PER_FRAME);
    } finally {
      await backend.dispose();
    }
  });

  it('base: reads a voice once, and again when its file changes', async () => {
    const backend = create('base');
    await mkdir(join(root, 'custom-voices'), { recursive: true });
    const path = join(root, 'custom-voices', 'changing.wav');
    await writeFile(path, wavFile(referenceRecording(50), 24000));
    await backend.load();
    try {
      const request = { text: 'Same.', voice: 'changing', speed: 1, extra: { do_sample: false } };
      const speak = async () => {
        const chunks: Float32Array[] = [];
        for await (const block of backend.synthesizeStream({ ...request, signal: new AbortController().signal })) chunks.push(block.samples);
        return Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
      };
      const first = await speak();
      expect((await speak()).equals(first)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Another voice entirely: a high whistle instead of a low hum.
      await writeFile(path, wavFile(Float32Array.from({ length: 36000 }, (_, index) => 0.5 * Math.sin(index * 0.9)), 24000));
      expect((await speak()).equals(first)).toBe(false);
    } finally {
      await backend.dispose();
    }
  });

  it('base: a symbolic link out of custom-voices is neither listed nor usable', async () => {
    const outside = join(root, 'outside.wav');
    await writeFile(outside, wavFile(referenceRecording(52), 24000));
    await mkdir(join(root, 'custom-voices', 'nested'), { recursive: true });
    await symlink(outside, join(root, 'custom-voices', 'nested', 'escape.wav'));
    const backend = create('base');
    expect((await backend.voices()).map((voice) => voice.id)).not.toContain('nested/escape');
    expect((await errorOf(backend.validateVoice('nested/escape'))).status).toBe(400);
  });
});
