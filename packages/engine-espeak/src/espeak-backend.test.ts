import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpeechError, type EngineContext, type ModelEntry, type SpeechAudio, type SynthesizeRequest, type TtsBackend } from '@talkies/core';
import { describeBackendConformance } from '@talkies/core/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import engine from './index.js';
import { OPENAI_VOICE_ALIASES } from './openai-voice-aliases.js';

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

function createBackend(entry: Partial<ModelEntry> = {}): TtsBackend {
  const context: EngineContext = {
    modelId: 'espeak',
    entry: { repo: 'espeak-ng', executor: 'espeak', modality: 'tts', ...entry } as ModelEntry,
    options: undefined,
    fields: {},
    paths: { dataDir: tmpdir(), modelDir: tmpdir() },
    logger: silentLogger,
    signal: new AbortController().signal,
    now: () => performance.now(),
  };
  const backend = engine.createBackend(context);
  if (backend.modality !== 'tts') throw new Error('espeak must create a TTS backend');
  return backend;
}

function request(text: string, overrides: Partial<SynthesizeRequest> = {}): SynthesizeRequest {
  return { text, voice: 'en-us', speed: 1, signal: new AbortController().signal, ...overrides };
}

async function failure(promise: Promise<unknown>): Promise<SpeechError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!SpeechError.is(error)) throw new Error(`expected a SpeechError, got ${String(error)}`);
  return error;
}

function seconds(audio: { samples: Float32Array; sampleRate: number }): number {
  return audio.samples.length / audio.sampleRate;
}

function rms(samples: Float32Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return Math.sqrt(sum / samples.length);
}

function espeakChildren(): string[] {
  return execFileSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith('espeak'));
}

describeBackendConformance('@talkies/engine-espeak', { create: () => createBackend() });

describe('espeak-ng backend', () => {
  const backend = createBackend();
  const previousBinary = process.env.TALKIES_ESPEAK_NG;
  const scratch = mkdtempSync(join(tmpdir(), 'talkies-espeak-test-'));

  afterEach(() => {
    if (previousBinary === undefined) delete process.env.TALKIES_ESPEAK_NG;
    else process.env.TALKIES_ESPEAK_NG = previousBinary;
  });
  afterAll(async () => {
    await backend.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('declares its capabilities, concurrency and default voice', async () => {
    expect(backend.capabilities).toEqual({ streaming: true, languages: 'any', instructions: false });
    expect(backend.defaultConcurrency).toBeGreaterThanOrEqual(2);
    expect(backend.defaultVoice).toBe('en-us');
    expect(createBackend({ default_voice: 'alloy' }).defaultVoice).toBe('alloy');
    await backend.load();
  });

  it('lists the espeak-ng languages and the OpenAI voice names', async () => {
    const voices = await backend.voices();
    const ids = voices.map((voice) => voice.id);
    expect(ids).toContain('en-us');
    expect(ids).toContain('en-gb');
    expect(ids).toContain('fr-fr');
    for (const alias of Object.keys(OPENAI_VOICE_ALIASES)) expect(ids).toContain(alias);
    expect(new Set(ids).size).toBe(ids.length);
    expect(voices.find((voice) => voice.id === 'alloy')).toEqual({
      id: 'alloy',
      name: 'alloy (espeak-ng en-us+f3)',
      language: 'en',
      origin: 'builtin',
    });
    expect(voices.find((voice) => voice.id === 'en-us')).toMatchObject({ language: 'en-us', origin: 'builtin' });
  });

  it('speaks "Hello world." at 22050 Hz', async () => {
    const result = await backend.synthesize(request('Hello world.'));
    expect(result.sampleRate).toBe(22050);
    expect(seconds(result)).toBeGreaterThan(0.3);
    expect(rms(result.samples)).toBeGreaterThan(0.01);
    expect(result.warnings).toBeUndefined();
  });

  it('takes longer to say more', async () => {
    const short = await backend.synthesize(request('Hello world.'));
    const long = await backend.synthesize(request('Hello world. This sentence makes the clip a good deal longer than the first.'));
    expect(seconds(long)).toBeGreaterThan(seconds(short) * 2);
  });

  it('follows speed from 0.25 to 4.0', async () => {
    const text = 'The quick brown fox jumps over the lazy dog, twice.';
    const durations: Record<string, number> = {};
    for (const speed of [0.25, 0.5, 1, 2, 4]) durations[speed] = seconds(await backend.synthesize(request(text, { speed })));
    expect(durations[2]).toBeLessThan(durations[1]);
    expect(durations[0.5]).toBeGreaterThan(durations[1]);
    for (const speed of [0.25, 0.5, 2, 4]) {
      const ratio = durations[1] / durations[speed] / speed;
      expect(ratio, `speed ${speed}`).toBeGreaterThan(0.75);
      expect(ratio, `speed ${speed}`).toBeLessThan(1.25);
    }
  });

  it('accepts aliases, languages and voice+variant in any case', async () => {
    for (const voice of ['alloy', 'Onyx', 'fr-fr', 'en-gb+m3', 'EN-US+F2', 'cmn']) {
      expect(seconds(await backend.synthesize(request('Hello.', { voice }))), voice).toBeGreaterThan(0.2);
    }
  });

  it('rejects an unknown voice with INVALID_REQUEST and a short list', async () => {
    for (const voice of ['nope', 'en-us+nope', 'alloy+f2', 'en-us+f2+f3']) {
      const error = await failure(backend.synthesize(request('Hello.', { voice })));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.param).toBe('voice');
      expect(error.message).toContain(`unknown voice '${voice}' for model 'espeak'; available voices: alloy, ash,`);
      expect(error.message).toContain('see GET /v1/audio/voices');
    }
  });

  it('warns that instructions are ignored', async () => {
    const result = await backend.synthesize(request('Hello.', { instructions: 'Speak cheerfully.' }));
    expect(result.warnings).toEqual(['instructions are ignored by espeak-ng']);
  });

  it('rejects empty text and a bad speed', async () => {
    expect((await failure(backend.synthesize(request('  \n')))).code).toBe('INVALID_REQUEST');
    expect((await failure(backend.synthesize(request('Hello.', { speed: 0 })))).param).toBe('speed');
  });

  it('kills espeak-ng when the signal aborts', async () => {
    const controller = new AbortController();
    const text = 'This is a long text that keeps espeak-ng busy for a while. '.repeat(400);
    const speaking = backend.synthesize(request(text, { signal: controller.signal }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    controller.abort();
    expect((await failure(speaking)).code).toBe('ABORTED');
    expect(espeakChildren()).toEqual([]);
    expect((await failure(backend.synthesize(request('Hello.', { signal: AbortSignal.abort() })))).code).toBe('ABORTED');
  });

  it('streams one block per sentence, about as long as the single clip', async () => {
    const text = 'The first sentence is here. Is this the second one? Yes, and this is the third!';
    const blocks = [];
    for await (const block of backend.synthesizeStream!(request(text))) blocks.push(block);
    expect(blocks).toHaveLength(3);
    for (const block of blocks) expect(block.sampleRate).toBe(22050);
    const streamed = blocks.reduce((total, block) => total + seconds(block), 0);
    const single = seconds(await backend.synthesize(request(text)));
    expect(streamed / single).toBeGreaterThan(0.8);
    expect(streamed / single).toBeLessThan(1.2);
    const once = [];
    for await (const block of backend.synthesizeStream!(request('Just one.'))) once.push(block);
    expect(once).toHaveLength(1);
  });

  it('stops streaming when aborted', async () => {
    const controller = new AbortController();
    const blocks: SpeechAudio[] = [];
    const streaming = (async () => {
      for await (const block of backend.synthesizeStream!(request('One. Two. Three. Four. Five.', { signal: controller.signal }))) {
        blocks.push(block);
        controller.abort();
      }
    })();
    expect((await failure(streaming)).code).toBe('ABORTED');
    expect(blocks).toHaveLength(1);
    expect(espeakChildren()).toEqual([]);
  });

  it('says how to install espeak-ng when it is missing', async () => {
    process.env.TALKIES_ESPEAK_NG = join(scratch, 'no-such-espeak-ng');
    const error = await failure(createBackend().load());
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toBe('espeak-ng is not installed; run `apt-get install espeak-ng` (or ./scripts/up) or set TALKIES_ESPEAK_NG');
  });

  it('fails to load when default_voice is not a voice', async () => {
    const error = await failure(createBackend({ default_voice: 'klingon' }).load());
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.message).toContain("default_voice 'klingon'");
  });

  it('reports a failing espeak-ng as INFERENCE_FAILED with its stderr', async () => {
    const fake = join(scratch, 'failing-espeak-ng');
    writeFileSync(fake, '#!/bin/sh\ncase "$*" in *--stdout*) echo "synthesis exploded" >&2; exit 3;; esac\nexec espeak-ng "$@"\n');
    chmodSync(fake, 0o755);
    process.env.TALKIES_ESPEAK_NG = fake;
    const failing = createBackend();
    await failing.load();
    const error = await failure(failing.synthesize(request('Hello.')));
    expect(error.code).toBe('INFERENCE_FAILED');
    expect(error.message).toBe('espeak-ng failed: synthesis exploded');
  });

  it('has nothing to download and disposes twice', async () => {
    expect(await engine.isDownloaded!({ modelId: 'espeak', entry: { repo: 'espeak-ng' } as ModelEntry, paths: { dataDir: '', modelDir: '' } })).toBe(true);
    const disposable = createBackend();
    await disposable.load();
    await disposable.dispose();
    await disposable.dispose();
  });
});
