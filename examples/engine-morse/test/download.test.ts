/**
 * `talkies pull` and a first load() fetch the model through @talkies/hub, here from a
 * loopback stand-in for the Hugging Face hub serving a generated model.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpeechError, type TtsBackend } from '@talkies/core';
import { startFakeHub, type FakeHub } from '@talkies/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import engine from '../src/index.js';
import { FIXTURE_REPO, writeMorseModel } from '../src/testing/index.js';
import { morseContext } from './support/morse-context.js';

let work: string;
let hub: FakeHub;
const savedEndpoint = process.env.HF_ENDPOINT;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'talkies-morse-pull-'));
  await writeMorseModel(join(work, 'published'));
  hub = await startFakeHub({ repos: { [FIXTURE_REPO]: join(work, 'published') }, extraFiles: { [FIXTURE_REPO]: { 'README.md': new TextEncoder().encode('# morse\n') } } });
  process.env.HF_ENDPOINT = hub.url;
});

afterAll(async () => {
  if (savedEndpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = savedEndpoint;
  await hub?.close();
  await rm(work, { recursive: true, force: true });
});

describe('downloading a Morse model', () => {
  it('download() fetches the two model files (and nothing else), resuming a dropped connection', async () => {
    const context = morseContext(join(work, 'data'), 'pulled', { repo: FIXTURE_REPO });
    expect(await engine.isDownloaded!(context)).toBe(false);
    hub.dropAfterHalf.set('morse.onnx', 1);
    const progress: string[] = [];
    await engine.download!(context, { onProgress: (update) => update.done && progress.push(update.file) });
    expect(progress.sort()).toEqual(['config.json', 'morse.onnx']);
    expect((await readdir(context.paths.modelDir)).sort()).toEqual(['config.json', 'morse.onnx']);
    expect(await readFile(join(context.paths.modelDir, 'morse.onnx'))).toEqual(await readFile(join(work, 'published', 'morse.onnx')));
    expect(hub.requests.some((request) => request.range !== undefined)).toBe(true);
    expect(await engine.isDownloaded!(context)).toBe(true);
  });

  it('load() of a model never pulled fetches it first, then speaks', async () => {
    const backend = engine.createBackend(morseContext(join(work, 'data'), 'first-use', { repo: FIXTURE_REPO })) as TtsBackend;
    await backend.load();
    const result = await backend.synthesize({ text: 'e', voice: 'low', speed: 1, signal: new AbortController().signal });
    await backend.dispose();
    expect(result.samples.length).toBe(960);
  });

  it('a repository without the model answers 503 and says how to get the files by hand', async () => {
    const context = morseContext(join(work, 'data'), 'missing', { repo: 'talkies-example/nothing-here' });
    const error = await engine.download!(context, {}).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(SpeechError.is(error) && error.status).toBe(503);
    expect((error as Error).message).toContain(context.paths.modelDir);
    expect(await engine.isDownloaded!(context)).toBe(false);
  });
});
