/** The generic part of the hub download: selection, required files, resume, size checks and atomic staging. */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { downloadRepoFiles, type DownloadProgress } from '../src/index.js';
import { startFakeHub, type FakeHub } from '@talkies/testkit';

const REPO = 'acme/tiny-model';
let root: string;
let hub: FakeHub;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'talkies-hub-test-'));
  const source = join(root, 'source');
  await mkdir(join(source, 'weights'), { recursive: true });
  await writeFile(join(source, 'config.json'), '{"a":1}');
  await writeFile(join(source, 'weights', 'big.bin'), new Uint8Array(4096).map((_, index) => index % 251));
  await writeFile(join(source, 'weights', 'other.bin'), new Uint8Array(100));
  await writeFile(join(source, 'README.md'), 'hello');
  hub = await startFakeHub({ repos: { [REPO]: source } });
});

afterAll(async () => {
  await hub?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1)).sort();
}

describe('downloadRepoFiles', () => {
  it('fetches what select picks from the listing, resuming a dropped file, and adopts the staging directory', async () => {
    const modelDir = join(root, 'models', 'selected');
    hub.dropAfterHalf.set('weights/big.bin', 1);
    const progress: DownloadProgress[] = [];
    const summary = await downloadRepoFiles({
      modelId: 'tiny', repo: REPO, modelDir, endpoint: hub.url, token: '',
      select: (listing) => listing.filter((path) => path === 'config.json' || path.startsWith('weights/big')),
      required: ['config.json', 'weights/big.bin'],
      onProgress: (update) => progress.push(update),
    });
    expect(summary.files.sort()).toEqual(['config.json', 'weights/big.bin']);
    expect(await filesUnder(modelDir)).toEqual(['config.json', 'weights/big.bin']);
    expect((await readFile(join(modelDir, 'weights', 'big.bin')))[300]).toBe(300 % 251);
    expect(hub.requests.some((request) => request.range !== undefined && !request.range.startsWith('bytes=0-'))).toBe(true);
    expect(progress.filter((update) => update.done).map((update) => update.file).sort()).toEqual(['config.json', 'weights/big.bin']);
    await expect(stat(`${modelDir}.download`)).rejects.toThrow();
  });

  it('takes an explicit list; files already there are kept, new ones move in', async () => {
    const modelDir = join(root, 'models', 'selected');
    const summary = await downloadRepoFiles({
      modelId: 'tiny', repo: REPO, modelDir, endpoint: hub.url, token: '',
      select: ['config.json', 'weights/other.bin', 'not-in-repo.txt'],
      required: ['config.json'],
    });
    expect(summary.files).toEqual(['weights/other.bin']);
    expect(await filesUnder(modelDir)).toEqual(['config.json', 'weights/big.bin', 'weights/other.bin']);
  });

  it('a required file missing from the repository is a 503 naming the slug, the repo and what to do; nothing is left behind', async () => {
    const modelDir = join(root, 'models', 'missing');
    const error = await downloadRepoFiles({
      modelId: 'tiny', repo: REPO, modelDir, endpoint: hub.url, token: '', executor: 'test',
      select: (listing) => listing,
      required: ['config.json', 'weights/fp16.bin'],
    }).then(() => undefined, (caught: unknown) => caught);
    expect(SpeechError.is(error)).toBe(true);
    const speechError = error as SpeechError;
    expect(speechError.code).toBe('MODEL_UNAVAILABLE');
    expect(speechError.executor).toBe('test');
    expect(speechError.message).toBe(
      `model 'tiny' could not be downloaded from ${hub.url}/${REPO}: the repository has no weights/fp16.bin. ` +
        'Check the network, set HF_ENDPOINT to a reachable hub mirror (and HF_TOKEN for a gated repo), ' +
        `or put the files (config.json, weights/fp16.bin) in ${modelDir} by hand`,
    );
    await expect(stat(modelDir)).rejects.toThrow();
  });

  it('a token that is not a Hugging Face token is refused before any request', async () => {
    const before = hub.requests.length;
    await expect(downloadRepoFiles({
      modelId: 'tiny', repo: REPO, modelDir: join(root, 'models', 'token'), endpoint: hub.url, token: 'nope',
      select: ['config.json'], required: ['config.json'],
    })).rejects.toThrow(/HF_TOKEN does not look like a Hugging Face token/);
    expect(hub.requests.length).toBe(before);
  });
});
