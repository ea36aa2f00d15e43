import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the built entry point', () => {
  it('loads neither onnxruntime, the hub client, the fixtures nor the model code until load()', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b packages/engine-nemo-onnx').toBe(true);
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push(specifier); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const options = engine.optionsSchema.parse({});
      const backends = ['parakeet', 'canary_multitask', 'canary_salm'].map((executor) => engine.createBackend({
        modelId: executor, entry: { repo: 'istupakov/' + executor, executor }, options,
        paths: { dataDir: '/nonexistent', modelDir: '/nonexistent/models/' + executor }, logger: console,
        signal: new AbortController().signal, now: () => 0,
      }));
      console.log(JSON.stringify({ imports, name: engine.name, executors: engine.executors, download: typeof engine.download, options,
        capabilities: backends.map((backend) => backend.capabilities) }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as { imports: string[]; name: string; executors: string[]; download: string; options: object; capabilities: Array<Record<string, unknown>> };
    expect(report).toMatchObject({ name: '@talkies/engine-nemo-onnx', executors: ['parakeet', 'canary_multitask', 'canary_salm'], download: 'function' });
    expect(report.options).toMatchObject({ precision: 'fp32', pnc: true, download: true, executionProvider: 'cpu' });
    expect(report.capabilities.map((capabilities) => [capabilities.wordTimestamps, capabilities.translation])).toEqual([[true, false], [false, true], [false, false]]);
    for (const heavy of ['onnxruntime-node', '@huggingface/hub', '@talkies/testkit', 'onnx-proto', './parakeet-runtime.js', './canary-runtime.js', './hub-download.js']) {
      expect(report.imports).not.toContain(heavy);
    }
  });
});
