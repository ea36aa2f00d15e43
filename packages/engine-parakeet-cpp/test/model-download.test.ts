/**
 * Model files come from the (fake, loopback) Hugging Face hub through @talkies/hub:
 * `gguf_file` picks one quantisation of a repository and only that file is fetched;
 * without it the first GGUF in name order is; a missing file is a 503 listing what exists.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError, type EngineContext } from '@talkies/core';
import { startFakeHub, type FakeHub } from '@talkies/testkit';
import engine from '../src/index.js';
import { parakeetOptionsSchema, type ParakeetOptions } from '../src/engine-options.js';
import { bursts, createBackend, hasCompiler, request, silentLogger, standInLibrary, temporaryDirectory, writeStandInModel } from './support/stand-in.js';

const REPO = 'mudler/parakeet-cpp-gguf';

describe('downloading a parakeet.cpp GGUF from a (fake) Hugging Face hub', () => {
  let repository: Awaited<ReturnType<typeof temporaryDirectory>>;
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let hub: FakeHub;
  const saved = process.env.HF_ENDPOINT;

  beforeAll(async () => {
    repository = await temporaryDirectory('parakeet-repo-');
    data = await temporaryDirectory('parakeet-download-');
    // Several models and quantisations side by side, as in the real repository.
    await writeStandInModel(repository.path, 'nemotron-3.5-asr-streaming-0.6b-q8_0.gguf', { nemotron: true, streaming: true });
    await writeStandInModel(repository.path, 'nemotron-3.5-asr-streaming-0.6b-f16.gguf', { nemotron: true, streaming: true });
    await writeStandInModel(repository.path, 'tdt_ctc-110m-q8_0.gguf');
    await writeStandInModel(repository.path, 'ctc-0.6b-q8_0.gguf');
    hub = await startFakeHub({ repos: { [REPO]: repository.path }, extraFiles: { [REPO]: { 'README.md': new Uint8Array(16) } } });
    process.env.HF_ENDPOINT = hub.url;
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
    await hub?.close();
    await repository?.remove();
    await data?.remove();
  });

  const context = (modelId: string, ggufFile?: string): EngineContext<ParakeetOptions> => ({
    modelId,
    entry: { repo: REPO, executor: 'parakeet_cpp', ...(ggufFile ? { gguf_file: ggufFile } : {}) },
    options: parakeetOptionsSchema.parse({}),
    fields: {},
    paths: { dataDir: data.path, modelDir: join(data.path, 'models', modelId) },
    logger: silentLogger,
    signal: new AbortController().signal,
    now: () => 0,
  });

  it('gguf_file: only that file is fetched (talkies pull), and the model then counts as downloaded', async () => {
    const nemotron = context('nemotron', 'nemotron-3.5-asr-streaming-0.6b-q8_0.gguf');
    expect(await engine.isDownloaded!(nemotron)).toBe(false);
    await engine.download!(nemotron, {});
    expect(await readdir(nemotron.paths.modelDir)).toEqual(['nemotron-3.5-asr-streaming-0.6b-q8_0.gguf']);
    expect(await engine.isDownloaded!(nemotron)).toBe(true);
    const fetched = hub.requests.filter((entry) => entry.path.includes('/resolve/')).map((entry) => entry.path.split('/').pop());
    expect(fetched).toEqual(['nemotron-3.5-asr-streaming-0.6b-q8_0.gguf']);
  });

  it('without gguf_file: the first GGUF of the repository in name order', async () => {
    const first = context('first');
    await engine.download!(first, {});
    expect(await readdir(first.paths.modelDir)).toEqual(['ctc-0.6b-q8_0.gguf']);
  });

  it('a gguf_file the repository lacks: 503 listing the GGUFs it has', async () => {
    let error: unknown;
    try {
      await engine.download!(context('missing', 'tdt-0.6b-v3-q8_0.gguf'), {});
    } catch (caught) {
      error = caught;
    }
    expect(SpeechError.is(error) && error.status).toBe(503);
    expect((error as Error).message).toContain('the repository has no tdt-0.6b-v3-q8_0.gguf');
    expect((error as Error).message).toContain('tdt_ctc-110m-q8_0.gguf');
  });

  it.skipIf(!hasCompiler)('a model that is not on disk is downloaded on first load, then transcribes', async () => {
    const backend = createBackend({
      modelId: 'first-load', repo: REPO, dataDir: data.path, library: standInLibrary({ abi: 10 }), file: 'tdt_ctc-110m-q8_0.gguf', options: { download: true },
    });
    await backend.load();
    try {
      expect(await readdir(join(data.path, 'models', 'first-load'))).toEqual(['tdt_ctc-110m-q8_0.gguf']);
      expect((await backend.transcribe(request(bursts(1, [[0.1, 0.5]])))).text).toBe('alpha');
    } finally {
      await backend.dispose();
    }
  });
});
