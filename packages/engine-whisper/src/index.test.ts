import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the built entry point', () => {
  it('loads neither onnxruntime, the hub client nor the model code until load()', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b packages/engine-whisper').toBe(true);
    // Records every import, in a fresh process so nothing is cached.
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push(specifier); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const options = engine.optionsSchema.parse({});
      const backend = engine.createBackend({
        modelId: 'whisper-base', entry: { repo: 'onnx-community/whisper-base', executor: 'whisper' }, options,
        paths: { dataDir: '/nonexistent', modelDir: '/nonexistent/models/whisper-base' }, logger: console,
        signal: new AbortController().signal, now: () => 0,
      });
      console.log(JSON.stringify({ imports, name: engine.name, executors: engine.executors, modality: backend.modality,
        capabilities: backend.capabilities, download: typeof engine.download, options }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as {
      imports: string[]; name: string; executors: string[]; modality: string; download: string;
      capabilities: Record<string, unknown>; options: Record<string, unknown>;
    };
    expect(report).toMatchObject({ name: '@talkies/engine-whisper', executors: ['whisper'], modality: 'asr', download: 'function' });
    expect(report.capabilities).toMatchObject({ translation: true, wordTimestamps: false, longForm: false });
    expect(report.options).toMatchObject({ precision: 'fp32', beamSize: 1, temperatureFallback: true });
    for (const heavy of ['onnxruntime-node', '@huggingface/hub', './whisper-runtime.js', './hub-download.js', './whisper-sessions.js', 'onnx-proto']) {
      expect(report.imports).not.toContain(heavy);
    }
  });
});
