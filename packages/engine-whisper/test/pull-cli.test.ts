/**
 * `talkies pull <slug…>` (packages/server's CLI) downloading through this engine's
 * download hook from a loopback fake hub, with a progress line per file.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryRoot } from './support/shared-assets.js';
import { startFakeHub, type FakeHub } from './support/fake-hub.js';
import { generatedModels } from './support/whisper-fixtures.js';

const run = promisify(execFile);
const cli = join(repositoryRoot, 'packages/server/dist/cli.js');

describe.skipIf(!existsSync(cli))('talkies pull', () => {
  let source: Awaited<ReturnType<typeof generatedModels>>;
  let data: Awaited<ReturnType<typeof generatedModels>>;
  let hub: FakeHub;

  beforeAll(async () => {
    source = await generatedModels(['whisper-test-tiny']);
    data = await generatedModels([]);
    hub = await startFakeHub({ repos: { 'talkies-test/whisper-tiny': join(source.dataDir, 'models', 'whisper-test-tiny') } });
    await writeFile(
      join(data.dataDir, 'models.json'),
      JSON.stringify({ models: { 'whisper-pulled': { repo: 'talkies-test/whisper-tiny', executor: 'whisper', modality: 'asr', license: 'MIT' } } }),
    );
  });

  afterAll(async () => {
    await hub?.close();
    await source?.remove();
    await data?.remove();
  });

  it('downloads the model with a progress line per file, and `talkies models` then shows it on disk', async () => {
    const env = { ...process.env, TALKIES_DATA_DIR: data.dataDir, TALKIES_MODELS_FILE: join(data.dataDir, 'models.json'), HF_ENDPOINT: hub.url, HF_TOKEN: '' };
    const { stderr } = await run(process.execPath, [cli, 'pull', 'whisper-pulled'], { cwd: repositoryRoot, env });
    for (const file of ['config.json', 'tokenizer.json', 'onnx/encoder_model.onnx', 'onnx/decoder_model_merged.onnx']) {
      expect(stderr).toMatch(new RegExp(`whisper-pulled  ${file.replace('.', '\\.')}  \\[#{24}\\] 100%`));
      expect(existsSync(join(data.dataDir, 'models', 'whisper-pulled', file))).toBe(true);
    }
    expect(stderr).toContain(`whisper-pulled: ready in ${join(data.dataDir, 'models', 'whisper-pulled')}`);
    const { stdout } = await run(process.execPath, [cli, 'models'], { cwd: repositoryRoot, env });
    expect(stdout).toMatch(/whisper-pulled\s+whisper \(@talkies\/engine-whisper\)\s+asr\s+yes\s+MIT/);
  });

  it('an unknown slug fails with the catalog listed', async () => {
    const env = { ...process.env, TALKIES_DATA_DIR: data.dataDir, TALKIES_MODELS_FILE: join(data.dataDir, 'models.json'), HF_ENDPOINT: hub.url };
    const failure = await run(process.execPath, [cli, 'pull', 'nope'], { cwd: repositoryRoot, env }).catch((error: { stderr: string; code: number }) => error);
    expect((failure as { code: number }).code).toBe(1);
    expect((failure as { stderr: string }).stderr).toContain("unknown model 'nope'; configured: whisper-pulled");
  });
});
