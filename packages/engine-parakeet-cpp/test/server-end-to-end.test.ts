/**
 * The engine behind a real talkies server, driven by the official `openai` client over
 * loopback: json, verbose_json with words, srt, a pinned language, an unknown one (4xx),
 * eviction and reload, and a model whose library is missing (503) while the rest of the
 * server keeps working. libparakeet is the stand-in, compiled by the test.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { APIError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { sharedFile } from './support/shared-audio.js';
import { bursts, hasCompiler, standInCounters, standInLibrary, temporaryDirectory, writeStandInModel } from './support/stand-in.js';
import { wavFile } from '@talkies/testkit';

const run = promisify(execFile);
const jfk = sharedFile('audio/jfk.wav');

const NEMOTRON = 'nemotron-3.5-asr-0.6b';
const NEMOTRON_FILE = 'nemotron-3.5-asr-streaming-0.6b-q8_0.gguf';
const TDT = 'parakeet-tdt_ctc-110m';
const NO_LIBRARY = 'parakeet-without-library';
const LANGUAGES = ['auto', 'en', 'es', 'de', 'fr', 'it', 'ar', 'ja', 'ko', 'pt', 'ru', 'hi', 'zh', 'vi', 'he', 'nl', 'cs', 'da', 'pl', 'no', 'sv', 'th', 'tr', 'bg'];

describe.skipIf(!hasCompiler)('engine-parakeet-cpp behind the server, driven by the openai client', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let server: TestServer;
  let client: OpenAI;
  // Three words: two close together, one after a pause (two segments).
  const recording = wavFile(bursts(3, [[0.16, 0.48], [0.64, 0.96], [2.0, 2.4]]));
  const file = () => toFile(recording, 'speech.wav', { type: 'audio/wav' });
  const loaded = async () =>
    ((await (await fetch(`${server.url}/api/ps`)).json()) as { models: Array<{ id: string }> }).models.map((model) => model.id);

  beforeAll(async () => {
    data = await temporaryDirectory('parakeet-server-');
    const library = standInLibrary({ abi: 10 });
    await writeStandInModel(join(data.path, 'models', NEMOTRON), NEMOTRON_FILE, { nemotron: true, streaming: true });
    await writeStandInModel(join(data.path, 'models', TDT), 'tdt_ctc-110m-q8_0.gguf');
    await writeStandInModel(join(data.path, 'models', NO_LIBRARY), 'tdt_ctc-110m-q8_0.gguf');
    const engineOptions = { library, download: false };
    server = await startTestServer(
      {
        [NEMOTRON]: {
          repo: 'mudler/parakeet-cpp-gguf', executor: 'parakeet_cpp', modality: 'asr', gguf_file: NEMOTRON_FILE,
          default_source_lang: 'auto', default_target_lang: 'en', default_task: 'asr', languages: LANGUAGES, max_concurrency: 2, engineOptions,
        },
        [TDT]: { repo: 'mudler/parakeet-cpp-gguf', executor: 'parakeet_cpp', modality: 'asr', gguf_file: 'tdt_ctc-110m-q8_0.gguf', engineOptions },
        [NO_LIBRARY]: {
          repo: 'mudler/parakeet-cpp-gguf', executor: 'parakeet_cpp', modality: 'asr', gguf_file: 'tdt_ctc-110m-q8_0.gguf',
          engineOptions: { library: join(data.path, 'no-such-dir', 'libparakeet.so'), download: false },
        },
      },
      { dataDir: data.path, maxLoadedModels: 1 },
    );
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.stop();
    await data?.remove();
  });

  it('lists the models as ASR', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual(expect.arrayContaining([NEMOTRON, TDT, NO_LIBRARY]));
  });

  it('json: the transcript, without the language tag', async () => {
    const result = await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON, response_format: 'json' });
    expect(result.text).toBe('alpha bravo charlie');
    expect(Object.keys(result)).toEqual(['text']);
  });

  it('verbose_json: words with times and confidences, segments synthesised from them', async () => {
    const result = await client.audio.transcriptions.create({
      file: await file(), model: NEMOTRON, response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'],
    });
    expect(result.text).toBe('alpha bravo charlie');
    // The language the model tagged (<en-us>), where the Python talkies said "auto".
    expect(result.language).toBe('en');
    expect(result.duration).toBeCloseTo(3, 2);
    expect(result.words!.map((word) => [word.word, word.start, word.end])).toEqual([['alpha', 0.16, 0.48], ['bravo', 0.64, 0.96], ['charlie', 2, 2.4]]);
    for (const word of result.words!) expect((word as unknown as { confidence: number }).confidence).toBeGreaterThan(0.5);
    expect(result.segments!.map((segment) => [segment.id, segment.start, segment.end, segment.text])).toEqual([
      [0, 0.16, 0.96, 'alpha bravo'],
      [1, 2, 2.4, 'charlie'],
    ]);
  });

  it('srt: one cue per synthesised segment', async () => {
    const srt = (await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON, response_format: 'srt' })) as unknown as string;
    expect(srt).toBe('1\n00:00:00,160 --> 00:00:00,960\nalpha bravo\n\n2\n00:00:02,000 --> 00:00:02,400\ncharlie\n');
  });

  it('language pinned: text through the _lang entry point, reported back', async () => {
    const result = await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON, language: 'en', response_format: 'verbose_json', timestamp_granularities: ['word'] });
    expect(result.text).toBe('alpha bravo charlie');
    expect(result.language).toBe('en');
    expect(result.words).toHaveLength(3);
  });

  it('an unknown language is a 4xx, never a silent success', async () => {
    const error = await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON, language: 'xx-nonexistent' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(400);
    expect((error as APIError).message).toContain("does not know language 'xx-nonexistent'");
  });

  it('a second model evicts the first, which reloads on its next request with the same result', async () => {
    expect(await loaded()).toEqual([NEMOTRON]);
    const other = await client.audio.transcriptions.create({ file: await file(), model: TDT });
    expect(other.text).toBe('alpha bravo charlie');
    expect(await loaded()).toEqual([TDT]);
    const again = await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON });
    expect(again.text).toBe('alpha bravo charlie');
    expect(await loaded()).toEqual([NEMOTRON]);
    expect((await fetch(`${server.url}/api/ps/${NEMOTRON}`, { method: 'DELETE' })).status).toBe(200);
    expect(await loaded()).toEqual([]);
    const reloaded = await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON, response_format: 'text' });
    expect(reloaded).toBe('alpha bravo charlie');
  });

  it.skipIf(!jfk)('long audio goes through core\'s chunker: pieces transcribed separately, one result on the file\'s timeline', async () => {
    // jfk.wav (11 s of real speech) and 1.5 s of silence, three times: 37.5 s, over the 30 s threshold.
    const long = join(data.path, 'long.flac');
    await run('ffmpeg', [
      '-loglevel', 'error', '-y', '-i', jfk!, '-f', 'lavfi', '-t', '1.5', '-i', 'anullsrc=r=16000:cl=mono',
      '-filter_complex', '[0:a][1:a]concat=n=2:v=0:a=1,aloop=loop=2:size=200000[out]', '-map', '[out]', '-ac', '1', '-ar', '16000', long,
    ]);
    const counters = await standInCounters(standInLibrary({ abi: 10 }));
    const before = counters.transcribeCalls();
    const result = await client.audio.transcriptions.create({
      file: await toFile(await readFile(long), 'long.flac'), model: TDT, response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'],
    });
    expect(counters.transcribeCalls() - before).toBeGreaterThanOrEqual(2);
    expect(result.duration).toBeCloseTo(37.5, 0);
    const words = result.words!;
    expect(words.length).toBeGreaterThan(10);
    for (let index = 1; index < words.length; index++) expect(words[index]!.start).toBeGreaterThanOrEqual(words[index - 1]!.end - 1e-6);
    expect(words[words.length - 1]!.end).toBeGreaterThan(25);
    expect(words[words.length - 1]!.end).toBeLessThanOrEqual(37.5);
    result.segments!.forEach((segment, index) => expect(segment.id).toBe(index));
  });

  it('a model whose library is missing answers 503 naming the library, where it looked and how to build it; the server keeps working', async () => {
    const error = await client.audio.transcriptions.create({ file: await file(), model: NO_LIBRARY }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(503);
    const message = (error as APIError).message;
    expect(message).toContain('needs libparakeet');
    expect(message).toContain(join(data.path, 'no-such-dir', 'libparakeet.so'));
    expect(message).toContain('build-libparakeet.sh');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const fine = await client.audio.transcriptions.create({ file: await file(), model: NEMOTRON });
    expect(fine.text).toBe('alpha bravo charlie');
  });
});
