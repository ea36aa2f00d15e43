import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const builtDirectory = pathToFileURL(fileURLToPath(new URL('../dist/', import.meta.url))).href;

describe('the built entry point', () => {
  it('loads no espeak-ng runner and no audio code, and spawns nothing, until load()', () => {
    expect(existsSync(builtEntry), 'build first: pnpm exec tsc -b packages/engine-espeak').toBe(true);
    // Records every import with its importer, in a fresh process so nothing is cached.
    const script = `
      import { registerHooks } from 'node:module';
      const imports = [];
      registerHooks({ resolve(specifier, context, next) { imports.push({ specifier, parent: context.parentURL ?? '' }); return next(specifier, context); } });
      const { default: engine } = await import(${JSON.stringify(pathToFileURL(builtEntry).href)});
      const backend = engine.createBackend({
        modelId: 'espeak', entry: { repo: 'espeak-ng', executor: 'espeak' }, options: undefined,
        paths: { dataDir: '/tmp', modelDir: '/tmp' }, logger: console, signal: new AbortController().signal, now: () => 0,
      });
      console.log(JSON.stringify({ imports, name: engine.name, executors: engine.executors, modality: backend.modality }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const report = JSON.parse(child.stdout) as {
      imports: Array<{ specifier: string; parent: string }>;
      name: string;
      executors: string[];
      modality: string;
    };
    expect(report).toMatchObject({ name: '@talkies/engine-espeak', executors: ['espeak'], modality: 'tts' });
    const specifiers = report.imports.map((entry) => entry.specifier);
    expect(specifiers).toContain('./espeak-backend.js');
    expect(specifiers).not.toContain('@talkies/audio');
    expect(specifiers).not.toContain('./espeak-program.js');
    expect(specifiers).not.toContain('./run-espeak.js');
    const fromEngine = report.imports.filter((entry) => entry.parent.startsWith(builtDirectory)).map((entry) => entry.specifier);
    expect(fromEngine).not.toContain('node:child_process');
  });
});
