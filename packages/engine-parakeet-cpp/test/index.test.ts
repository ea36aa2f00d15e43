import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the built entry point', () => {
  it('loads neither koffi, the binding nor the hub client until load()', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b packages/engine-parakeet-cpp').toBe(true);
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push(specifier); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const options = engine.optionsSchema.parse({});
      const backend = engine.createBackend({
        modelId: 'nemotron-3.5-asr-0.6b',
        entry: { repo: 'mudler/parakeet-cpp-gguf', executor: 'parakeet_cpp', gguf_file: 'nemotron-3.5-asr-streaming-0.6b-q8_0.gguf', languages: ['auto', 'en', 'de'] },
        options, paths: { dataDir: '/nonexistent', modelDir: '/nonexistent/models/x' }, logger: console,
        signal: new AbortController().signal, now: () => 0,
      });
      console.log(JSON.stringify({ imports, name: engine.name, executors: engine.executors, modality: backend.modality,
        capabilities: backend.capabilities, concurrency: backend.defaultConcurrency, stream: typeof backend.openStream, options }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as Record<string, unknown> & { imports: string[] };
    expect(report).toMatchObject({
      name: '@talkies/engine-parakeet-cpp', executors: ['parakeet_cpp'], modality: 'asr', concurrency: 2, stream: 'function',
      capabilities: { wordTimestamps: true, streaming: true, translation: false, languages: ['en', 'de'], longForm: false },
      options: { decoder: 'default', threads: 0, download: true },
    });
    for (const heavy of ['koffi', '@talkies/hub', '@huggingface/hub', './parakeet-library.js', './parakeet-stream.js', './parakeet-stream-worker.js']) {
      expect(report.imports).not.toContain(heavy);
    }
  });

  it('refuses a gguf_file that leaves the model directory, at creation', () => {
    const script = `
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      try {
        engine.createBackend({ modelId: 'm', entry: { repo: 'r', executor: 'parakeet_cpp', gguf_file: '../escape.gguf' },
          options: engine.optionsSchema.parse({}), paths: { dataDir: '/d', modelDir: '/d/models/m' }, logger: console,
          signal: new AbortController().signal, now: () => 0 });
        console.log('created');
      } catch (error) { console.log(error.code + ': ' + error.message); }
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stdout).toContain("CONFIG_INVALID: model 'm': gguf_file '../escape.gguf' must be the path of a .gguf file inside the repository");
  });
});
