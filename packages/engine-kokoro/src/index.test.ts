import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_VOICES } from './published-voices.js';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the built entry point', () => {
  it('loads no onnxruntime, starts no worker and spawns nothing until load(), even when listing voices', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b packages/engine-kokoro').toBe(true);
    // Records every import in a fresh process, so nothing is cached.
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push(specifier); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const backend = engine.createBackend({
        modelId: 'kokoro-82m', entry: { repo: 'onnx-community/Kokoro-82M-v1.0-ONNX', executor: 'kokoro' }, options: {},
        paths: { dataDir: '/nonexistent', modelDir: '/nonexistent/kokoro-82m' }, logger: console,
        signal: new AbortController().signal, now: () => 0,
      });
      const voices = await backend.voices().then((list) => list.length, (error) => error.code);
      console.log(JSON.stringify({ imports, name: engine.name, executors: engine.executors, modality: backend.modality, voices }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as { imports: string[]; name: string; executors: string[]; modality: string; voices: unknown };
    expect(report).toMatchObject({ name: '@talkies/engine-kokoro', executors: ['kokoro', 'kokoro_nvidia'], modality: 'tts' });
    // Not downloaded: the published catalog answers, without loading anything heavy.
    expect(report.voices).toBe(PUBLISHED_VOICES.length);
    expect(report.imports).toContain('./kokoro-backend.js');
    for (const heavy of ['onnxruntime-node', 'node:worker_threads', 'node:child_process', '@talkies/audio', './kokoro-runtime.js', './synthesis-pipeline.js', './inference-client.js', 'onnx-proto']) {
      expect(report.imports, heavy).not.toContain(heavy);
    }
  });
});
