import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the built entry point', () => {
  it('imports neither onnxruntime-node nor the hub client until a model loads or downloads', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b examples/engine-morse').toBe(true);
    // Records every import in a fresh process, so nothing is cached.
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push(specifier); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const backend = engine.createBackend({
        modelId: 'morse', entry: { repo: 'x/morse', executor: 'morse' }, options: { threads: 1 }, fields: { words_per_minute: 20 },
        paths: { dataDir: '/nonexistent', modelDir: '/nonexistent/morse' }, logger: console, signal: new AbortController().signal, now: () => 0,
      });
      const voices = await backend.voices();
      console.log(JSON.stringify({ imports, executors: engine.executors, voices: voices.length }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as { imports: string[]; executors: string[]; voices: number };
    expect(report).toMatchObject({ executors: ['morse'], voices: 3 });
    expect(report.imports).toContain('./morse-backend.js');
    expect(report.imports).not.toContain('onnxruntime-node');
    expect(report.imports).not.toContain('@talkies/hub');
    expect(report.imports).not.toContain('@talkies/testkit');
  });
});
