import { spawn, execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { mallocVariablesSet, onGlibc } from '../src/malloc-tuning.js';
import { ESPEAK, SCRIPTED } from './test-server.js';

const run = promisify(execFile);
const repositoryRoot = resolve(__dirname, '../../..');
const cli = join(repositoryRoot, 'packages/server/dist/cli.js');

async function catalog(): Promise<{ directory: string; modelsFile: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'talkies-cli-'));
  const modelsFile = join(directory, 'models.json');
  await writeFile(
    modelsFile,
    JSON.stringify({ models: { espeak: { ...ESPEAK, license: 'GPL-3.0-or-later' }, scripted: { repo: 'fixtures/a', ...SCRIPTED } } }),
  );
  return { directory, modelsFile };
}

describe('talkies CLI', () => {
  it('`talkies models` lists slug, engine, modality, on-disk state and license', async () => {
    const { directory, modelsFile } = await catalog();
    const { stdout } = await run(process.execPath, [cli, 'models'], {
      cwd: repositoryRoot,
      env: { ...process.env, TALKIES_MODELS_FILE: modelsFile, TALKIES_DATA_DIR: directory },
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SLUG\s+ENGINE\s+MODALITY\s+ON DISK\s+LICENSE$/);
    expect(lines[1]).toMatch(/^espeak\s+espeak \(@talkies\/engine-espeak\)\s+tts\s+yes\s+GPL-3.0-or-later$/);
    expect(lines[2]).toMatch(/^scripted\s+scripted \(@talkies-fixtures\/engine-scripted\)\s+asr\s+no\s+-$/);
  });

  it('`talkies serve` answers, then stops cleanly on SIGTERM', async () => {
    const { directory, modelsFile } = await catalog();
    const child = spawn(process.execPath, [cli, 'serve'], {
      cwd: repositoryRoot,
      env: { ...process.env, TALKIES_MODELS_FILE: modelsFile, TALKIES_DATA_DIR: directory, TALKIES_PORT: '0', TALKIES_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    const url = await new Promise<string>((resolveUrl, reject) => {
      child.once('exit', (code) => reject(new Error(`server exited early (${code}): ${output}`)));
      const poll = setInterval(() => {
        const match = /"url":"(http:[^"]+)"/.exec(output);
        if (match) {
          clearInterval(poll);
          resolveUrl(match[1]!);
        }
      }, 20);
    });
    expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ ok: true, models: ['espeak', 'scripted'] });
    const speech = await fetch(`${url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'espeak', input: 'Goodbye.', response_format: 'wav' }),
    });
    expect(speech.status).toBe(200);
    // glibc's allocator was set from the process's start (malloc-tuning.ts: executed again in place), or left as it is, saying why.
    const allocator = output.split('\n').find((line) => line.includes('"msg":"memory allocator"'));
    expect(allocator).toBeDefined();
    const inherited = mallocVariablesSet(process.env).length > 0 || process.env.TALKIES_MALLOC_TUNING !== undefined;
    if (onGlibc() && !inherited) expect(JSON.parse(allocator!).malloc).toEqual({ arenaMax: 1, trimThreshold: 256 * 2 ** 20, mmapThreshold: 32 * 2 ** 20, via: 'environment' });
    else expect(JSON.parse(allocator!).malloc).toMatch(/^left as it is: /);
    child.removeAllListeners('exit');
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toMatch(/shutting down/);
    expect(output).toMatch(/talkies stopped/);
  });

  it('refuses to start with a bad models.json and says what to fix', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'talkies-cli-'));
    const modelsFile = join(directory, 'models.json');
    await writeFile(modelsFile, JSON.stringify({ models: { broken: { executor: 'espeak' } } }));
    const failure = await run(process.execPath, [cli, 'serve'], {
      env: { ...process.env, TALKIES_MODELS_FILE: modelsFile, TALKIES_DATA_DIR: directory, TALKIES_PORT: '0' },
    }).catch((error: { code: number; stderr: string }) => error);
    expect((failure as { code: number }).code).toBe(1);
    expect((failure as { stderr: string }).stderr).toMatch(/talkies: .*models\.broken\.repo/s);
  });
});
