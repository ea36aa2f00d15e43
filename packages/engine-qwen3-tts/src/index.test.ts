import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the built entry point', () => {
  it('loads no onnxruntime, starts no worker and reads no audio until load(), even when listing voices', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b packages/engine-qwen3-tts').toBe(true);
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push(specifier); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const backend = engine.createBackend({
        modelId: 'qwen3-tts-0.6b-custom', entry: { repo: 'x/y', executor: 'qwen3_tts', qwen3_mode: 'custom_voice' }, options: {},
        paths: { dataDir: '/nonexistent', modelDir: '/nonexistent/qwen3' }, logger: console,
        signal: new AbortController().signal, now: () => 0,
      });
      const voices = await backend.voices().catch((error) => error.code);
      console.log(JSON.stringify({ imports, name: engine.name, executors: engine.executors, modality: backend.modality, voices }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as { imports: string[]; name: string; executors: string[]; modality: string; voices: unknown };
    expect(report).toMatchObject({ name: '@talkies/engine-qwen3-tts', executors: ['qwen3_tts'], modality: 'tts', voices: 'MODEL_UNAVAILABLE' });
    for (const heavy of ['onnxruntime-node', 'node:worker_threads', '@talkies/audio', '@talkies/testkit', 'onnx-proto', './generation-client.js', './ort-runtime.js']) {
      expect(report.imports, heavy).not.toContain(heavy);
    }
  });
});
