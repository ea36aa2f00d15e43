import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpeechError, type TtsBackend } from '@talkies/core';
import { describeBackendConformance } from '@talkies/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { morseContext } from '../test/support/morse-context.js';
import engine from './index.js';
import { writeFixtures } from './testing/index.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'talkies-morse-'));
  await writeFixtures(dataDir);
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const create = () => engine.createBackend(morseContext(dataDir, 'morse-tone')) as TtsBackend;

describeBackendConformance('morse', { create, text: 'Hello world.' });

const request = (text: string, extra: Partial<Parameters<TtsBackend['synthesize']>[0]> = {}) => ({
  text,
  voice: 'mid',
  speed: 1,
  signal: new AbortController().signal,
  ...extra,
});

async function rejection(promise: Promise<unknown>): Promise<SpeechError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!SpeechError.is(error)) throw new Error(`expected a SpeechError, got ${String(error)}`);
  return error;
}

describe('the Morse backend', () => {
  it('lists its voices and checks them without model files (before any load)', async () => {
    const backend = engine.createBackend(morseContext('/nonexistent/talkies', 'never-pulled')) as TtsBackend;
    expect((await backend.voices()).map((voice) => voice.id)).toEqual(['low', 'mid', 'high']);
    expect(backend.defaultVoice).toBe('mid');
    await backend.validateVoice!('high');
    const error = await rejection(backend.validateVoice!('soprano'));
    expect(error.status).toBe(400);
    expect(error.message).toContain('available voices: low, mid, high');
  });

  it('answers 400 for text with nothing to send and for text longer than the audio limit', async () => {
    const backend = create();
    await backend.load();
    try {
      const empty = await rejection(backend.synthesize(request('~~ ~~')));
      expect([empty.status, empty.param]).toEqual([400, 'input']);
      // 2000 zeros at 5 words per minute and speed 0.25 would be hours of audio.
      const slow = engine.createBackend(morseContext(dataDir, 'morse-tone', { words_per_minute: 5 })) as TtsBackend;
      await slow.load();
      const long = await rejection(slow.synthesize(request('0'.repeat(2000), { speed: 0.25 })));
      expect([long.status, long.param]).toEqual([400, 'input']);
      expect(long.message).toMatch(/over the 600 s limit/);
      await slow.dispose();
    } finally {
      await backend.dispose();
    }
  });

  it('warns about characters it left out', async () => {
    const backend = create();
    await backend.load();
    const result = await backend.synthesize(request('e ☃ e'));
    await backend.dispose();
    expect(result.warnings).toEqual(['Morse code has no signs for "☃"; they were left out']);
  });

  it('streams the same audio that synthesize() returns whole', async () => {
    const backend = create();
    await backend.load();
    const text = 'the quick brown fox jumps over the lazy dog';
    const whole = await backend.synthesize(request(text));
    const blocks: Float32Array[] = [];
    for await (const block of backend.synthesizeStream!(request(text))) blocks.push(block.samples);
    await backend.dispose();
    expect(blocks.length).toBeGreaterThan(2);
    const joined = new Float32Array(blocks.reduce((sum, block) => sum + block.length, 0));
    blocks.reduce((offset, block) => (joined.set(block, offset), offset + block.length), 0);
    expect(joined.length).toBe(whole.samples.length);
    // Each block's phase restarts at zero, so compare the on/off envelope, not the samples.
    const envelope = (samples: Float32Array) => Array.from({ length: Math.floor(samples.length / 960) }, (_, unit) => {
      let energy = 0;
      for (let index = unit * 960 + 240; index < unit * 960 + 720; index++) energy += samples[index]! ** 2;
      return energy / 480 > 0.01;
    });
    expect(envelope(joined)).toEqual(envelope(whole.samples));
  });
});

describe('the engine definition', () => {
  it('declares contract v1 and validates its entry fields and engineOptions', () => {
    expect(engine.specificationVersion).toBe('v1');
    expect(engine.entrySchema!.parse({})).toEqual({ words_per_minute: 20 });
    expect(engine.entrySchema!.safeParse({ words_per_minute: 100 }).error?.issues[0]?.message).toBe('words_per_minute must be between 5 and 60');
    // Unknown top-level fields are reported at boot, not ignored.
    expect(engine.entrySchema!.safeParse({ wpm: 20 }).success).toBe(false);
    expect(engine.optionsSchema!.parse({})).toEqual({ threads: 1 });
    expect(engine.optionsSchema!.safeParse({ threads: 0 }).success).toBe(false);
    expect(engine.optionsSchema!.safeParse({ thread: 2 }).success).toBe(false);
  });

  it('knows whether a model is on disk', async () => {
    expect(await engine.isDownloaded!(morseContext(dataDir, 'morse-tone'))).toBe(true);
    expect(await engine.isDownloaded!(morseContext(dataDir, 'never-pulled'))).toBe(false);
  });
});
