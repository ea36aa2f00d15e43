/**
 * Batching across requests with the real Whisper engine behind real servers: concurrent
 * requests to a server that batches them (TALKIES_BATCH_MAX_SIZE > 1) get exactly the
 * answers that a server without batching gives the same requests one at a time (text,
 * segments with tokens, times and confidence fields, words), for clips of very different
 * lengths and both with and without a language.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { audioDirectory, hasShared } from './support/shared-assets.js';
import { generatedModels } from './support/whisper-fixtures.js';

const SLUG = 'whisper-test-tiny';
/** Clips cut from jfk.wav: start and length in seconds. */
const CLIPS: Array<[number, number]> = [
  [0, 11],
  [0.5, 1.6],
  [3, 5.5],
  [6.2, 3],
];

describe.skipIf(!hasShared('audio/jfk.wav'))('Whisper behind a server that batches concurrent requests', () => {
  let models: Awaited<ReturnType<typeof generatedModels>>;
  let work: string;
  const servers: Record<'batched' | 'plain', TestServer> = {} as never;
  const clients: Record<'batched' | 'plain', OpenAI> = {} as never;
  const clips: Buffer[] = [];

  beforeAll(async () => {
    models = await generatedModels([SLUG]);
    work = await mkdtemp(join(tmpdir(), 'talkies-whisper-batching-'));
    for (const [index, [start, seconds]] of CLIPS.entries()) {
      const path = join(work, `clip-${index}.wav`);
      await promisify(execFile)('ffmpeg', ['-loglevel', 'error', '-y', '-ss', String(start), '-t', String(seconds), '-i', join(audioDirectory, 'jfk.wav'), path]);
      clips.push(await readFile(path));
    }
    const entry = { repo: `talkies-fixtures/${SLUG}`, executor: 'whisper', modality: 'asr', engineOptions: { temperatureFallback: false, download: false } };
    for (const [mode, batchMaxSize] of [['batched', CLIPS.length], ['plain', 1]] as const) {
      // Each server has its own data directory; both read the one generated model.
      const dataDir = join(work, mode);
      await mkdir(join(dataDir, 'models'), { recursive: true });
      await symlink(join(models.dataDir, 'models', SLUG), join(dataDir, 'models', SLUG));
      // The window is longer than the test: the batch starts when all four requests are in, whatever the load.
      servers[mode] = await startTestServer({ [SLUG]: entry }, { dataDir, batchMaxSize, batchWindowMs: 600_000 });
      clients[mode] = new OpenAI({ baseURL: `${servers[mode].url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
    }
  }, 120_000);

  afterAll(async () => {
    await servers.batched?.stop();
    await servers.plain?.stop();
    await models?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const transcribe = async (mode: 'batched' | 'plain', index: number, language: string | undefined) =>
    clients[mode].audio.transcriptions.create({
      file: await toFile(clips[index]!, `clip-${index}.wav`, { type: 'audio/wav' }),
      model: SLUG,
      response_format: 'verbose_json',
      timestamp_granularities: ['segment', 'word'],
      ...(language ? { language } : {}),
    });

  /** The batched server's `talkies_batch_pieces` histogram: batches started and pieces in them. */
  const batches = async () => {
    const text = await (await fetch(`${servers.batched.url}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name}\\{model="${SLUG}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return { count: read('talkies_batch_pieces_count'), sum: read('talkies_batch_pieces_sum') };
  };

  for (const language of ['en', undefined]) {
    it(`concurrent requests get the answers they get one at a time (language ${language ?? 'detected'})`, async () => {
      const sequential = [];
      for (let index = 0; index < clips.length; index++) sequential.push(await transcribe('plain', index, language));
      const before = await batches();
      const concurrent = await Promise.all(clips.map((_, index) => transcribe('batched', index, language)));
      expect(concurrent).toEqual(sequential);
      // They were decoded as one batch of four.
      const after = await batches();
      expect([after.count - before.count, after.sum - before.sum]).toEqual([1, clips.length]);
      expect(new Set(concurrent.map((result) => result.text)).size).toBeGreaterThan(1);
      expect(concurrent[0]!.segments!.length).toBeGreaterThan(0);
    }, 120_000);
  }
});
