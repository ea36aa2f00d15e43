import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from './model-registry.js';
import { loadModels, resolveEngines } from './load-models.js';
import { CORE_VERSION, discoverEngines, importEngine, importFrom } from './plugin-loader.js';
import { SpeechError } from './speech-error.js';

interface FakePackage {
  name: string;
  /** `talkies.executors` in package.json; omitted for a package that is not an engine. */
  manifestExecutors?: string[];
  /** The source of the entry module. */
  source: string;
  /** Hide package.json behind an exports map that does not list it. */
  hidePackageJson?: boolean;
  /** The condition the exports map uses for the entry (default: `default`). */
  condition?: 'default' | 'import';
  /** A whole exports map instead (with files to write: path → source). */
  exports?: Record<string, unknown>;
  files?: Record<string, string>;
}

/** An ESM engine module: a default export shaped like defineEngine({...}). */
function engineSource(name: string, executors: string[], coreRange: string, extra = ''): string {
  return `export default {${extra}
  name: ${JSON.stringify(name)},
  executors: ${JSON.stringify(executors)},
  coreRange: ${JSON.stringify(coreRange)},
  createBackend(context) {
    return { specificationVersion: 'v1', modality: 'asr', engine: ${JSON.stringify(name)}, modelId: context.modelId };
  },
};
`;
}

async function writePackage(nodeModules: string, fake: FakePackage): Promise<void> {
  const directory = join(nodeModules, ...fake.name.split('/'));
  const entry = fake.hidePackageJson ? 'dist/index.js' : 'index.js';
  await mkdir(dirname(join(directory, entry)), { recursive: true });
  const manifest: Record<string, unknown> = {
    name: fake.name,
    version: '1.0.0',
    type: 'module',
    exports:
      fake.exports ??
      (fake.hidePackageJson
        ? { '.': { [fake.condition ?? 'default']: `./${entry}` } }
        : { '.': `./${entry}`, './package.json': './package.json' }),
  };
  for (const [path, source] of Object.entries(fake.files ?? {})) {
    await mkdir(dirname(join(directory, path)), { recursive: true });
    await writeFile(join(directory, path), source);
  }
  if (fake.manifestExecutors) manifest.talkies = { executors: fake.manifestExecutors };
  await writeFile(join(directory, 'package.json'), JSON.stringify(manifest, null, 2));
  await writeFile(join(directory, entry), fake.source);
}

/** An application directory: a package.json with dependencies, and node_modules. */
async function writeApp(
  root: string,
  dependencies: { dependencies?: string[]; devDependencies?: string[]; optionalDependencies?: string[] },
  packages: FakePackage[],
): Promise<string> {
  await mkdir(root, { recursive: true });
  const manifest: Record<string, unknown> = { name: 'app', private: true, type: 'module' };
  for (const [field, names] of Object.entries(dependencies)) {
    manifest[field] = Object.fromEntries(names.map((name) => [name, '*']));
  }
  await writeFile(join(root, 'package.json'), JSON.stringify(manifest, null, 2));
  for (const fake of packages) await writePackage(join(root, 'node_modules'), fake);
  return root;
}

function registryOf(models: Record<string, Record<string, unknown>>): ModelRegistry {
  return ModelRegistry.fromJson({ models });
}

async function speechRejection(promise: Promise<unknown>): Promise<SpeechError> {
  try {
    await promise;
  } catch (error) {
    expect(SpeechError.is(error)).toBe(true);
    return error as SpeechError;
  }
  throw new Error('expected a SpeechError, the promise resolved');
}

describe('plugin loader', () => {
  let root: string;
  let app: string;
  let secondApp: string;
  let emptyDirectory: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'talkies-plugins-'));
    app = await writeApp(
      join(root, 'app'),
      {
        dependencies: [
          'talkies-engine-fake',
          'left-pad',
          'not-installed',
          '@acme/talkies-engine-scoped',
          'talkies-engine-esm-only',
          'talkies-engine-conditional',
        ],
        devDependencies: ['talkies-engine-dev'],
        optionalDependencies: ['talkies-engine-duplicate'],
      },
      [
        {
          name: 'talkies-engine-fake',
          manifestExecutors: ['fake', 'fake-alt'],
          source: engineSource('talkies-engine-fake', ['fake', 'fake-alt'], '>=0.1.0 <1.0.0'),
        },
        { name: 'left-pad', source: 'export default function leftPad() {}\n' },
        {
          name: '@acme/talkies-engine-scoped',
          manifestExecutors: ['scoped'],
          source: engineSource('@acme/talkies-engine-scoped', ['scoped'], '*'),
          hidePackageJson: true,
        },
        {
          name: 'talkies-engine-esm-only',
          manifestExecutors: ['esm'],
          source: engineSource('talkies-engine-esm-only', ['esm'], '*'),
          hidePackageJson: true,
          condition: 'import',
        },
        {
          name: 'talkies-engine-dev',
          manifestExecutors: ['dev'],
          source: engineSource('talkies-engine-dev', ['dev'], '^0.1.0'),
        },
        {
          name: 'talkies-engine-duplicate',
          manifestExecutors: ['fake', 'duplicate'],
          source: engineSource('talkies-engine-duplicate', ['fake', 'duplicate'], '*'),
        },
        // Installed but not a dependency: reachable only through a models.json `package`.
        {
          name: 'third-party-engine',
          manifestExecutors: ['custom'],
          source: engineSource('third-party-engine', ['custom'], '*'),
        },
        {
          name: 'talkies-engine-too-new',
          manifestExecutors: ['future'],
          source: engineSource('talkies-engine-too-new', ['future'], '^99.0.0'),
        },
        {
          name: 'talkies-engine-bad-range',
          manifestExecutors: ['weird'],
          source: engineSource('talkies-engine-bad-range', ['weird'], 'not a range'),
        },
        { name: 'not-an-engine', manifestExecutors: ['broken'], source: 'export default { name: "nope" };\n' },
        {
          name: 'talkies-engine-v2',
          manifestExecutors: ['next'],
          source: engineSource('talkies-engine-v2', ['next'], '*', "\n  specificationVersion: 'v2',"),
        },
        {
          // Conditional exports (node / import / default) and a subpath pattern, as real
          // packages publish them: only Node's resolver picks the same files import() does.
          name: 'talkies-engine-conditional',
          manifestExecutors: ['conditional'],
          source: '',
          exports: {
            '.': { types: './types/index.d.ts', node: { import: './esm/node.js', require: './cjs/node.cjs' }, default: './esm/browser.js' },
            './testing': { import: './esm/testing/index.js' },
            './formats/*': './esm/formats/*.js',
          },
          files: {
            'esm/node.js': engineSource('talkies-engine-conditional', ['conditional'], '*', `
  entrySchema: { safeParse(value) {
    const keys = Object.keys(value).filter((key) => key !== 'quant');
    if (keys.length > 0) return { success: false, error: { issues: keys.map((key) => ({ path: [key], message: 'unknown field; this engine takes "quant"' })) } };
    if (value.quant !== undefined && typeof value.quant !== 'string') return { success: false, error: { issues: [{ path: ['quant'], message: 'must be a string' }] } };
    return { success: true, data: value };
  } },`),
            'esm/browser.js': 'throw new Error("the browser build must not load under node");\n',
            'cjs/node.cjs': 'throw new Error("the require build must not load through import()");\n',
            'esm/testing/index.js': 'export const marker = "testing";\n',
            'esm/formats/srt.js': 'export const marker = "srt";\n',
          },
        },
      ],
    );
    secondApp = await writeApp(join(root, 'second'), { dependencies: ['talkies-engine-second', 'not-an-engine'] }, [
      { name: 'not-an-engine', manifestExecutors: ['broken'], source: 'export default { name: "nope" };\n' },
      {
        name: 'talkies-engine-second',
        manifestExecutors: ['second', 'fake'],
        source: engineSource('talkies-engine-second', ['second', 'fake'], '*'),
      },
    ]);
    emptyDirectory = join(root, 'empty');
    await mkdir(emptyDirectory);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('CORE_VERSION is the version in core package.json', async () => {
    const manifest = JSON.parse(
      await readFile(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(CORE_VERSION).toBe(manifest.version);
  });

  describe('discoverEngines', () => {
    it('finds engine packages among the dependencies, by executor', async () => {
      const found = await discoverEngines(app);
      expect([...found.keys()].sort()).toEqual(['conditional', 'dev', 'duplicate', 'esm', 'fake', 'fake-alt', 'scoped']);
      expect(found.get('fake')).toEqual({
        packageName: 'talkies-engine-fake',
        executors: ['fake', 'fake-alt'],
        directory: join(app, 'node_modules', 'talkies-engine-fake'),
        baseDirectory: app,
      });
      expect(found.get('fake-alt')).toBe(found.get('fake'));
    });

    it('looks for the application package.json at or above the directory, as npm does', async () => {
      const { mkdir } = await import('node:fs/promises');
      const nested = join(app, 'dist', 'deeper');
      await mkdir(nested, { recursive: true });
      const found = await discoverEngines(nested);
      expect(found.get('fake')?.directory).toBe(join(app, 'node_modules', 'talkies-engine-fake'));
    });

    it('finds a package whose exports map hides package.json', async () => {
      const found = await discoverEngines(app);
      expect(found.get('scoped')?.packageName).toBe('@acme/talkies-engine-scoped');
      expect(found.get('scoped')?.directory).toBe(join(app, 'node_modules', '@acme', 'talkies-engine-scoped'));
    });

    it('finds an ESM-only package (exports with an import condition only)', async () => {
      const found = await discoverEngines(app);
      expect(found.get('esm')).toEqual({
        packageName: 'talkies-engine-esm-only',
        executors: ['esm'],
        directory: join(app, 'node_modules', 'talkies-engine-esm-only'),
        baseDirectory: app,
      });
    });

    it('scans dev and optional dependencies too; the first claim on an executor wins', async () => {
      const found = await discoverEngines(app);
      expect(found.get('dev')?.packageName).toBe('talkies-engine-dev');
      expect(found.get('duplicate')?.packageName).toBe('talkies-engine-duplicate');
      expect(found.get('fake')?.packageName).toBe('talkies-engine-fake');
    });

    it('ignores installed packages that are not dependencies, non-engines and missing packages', async () => {
      const found = await discoverEngines(app);
      const packages = new Set([...found.values()].map((engine) => engine.packageName));
      expect(packages.has('third-party-engine')).toBe(false);
      expect(packages.has('left-pad')).toBe(false);
      expect(packages.has('not-installed')).toBe(false);
    });

    it('returns nothing for a directory without package.json', async () => {
      expect((await discoverEngines(emptyDirectory)).size).toBe(0);
      expect((await discoverEngines(join(root, 'does-not-exist'))).size).toBe(0);
    });
  });

  describe('importEngine', () => {
    it('imports the default export of an engine package', async () => {
      const definition = await importEngine('talkies-engine-fake', [app]);
      expect(definition.name).toBe('talkies-engine-fake');
      expect(definition.executors).toEqual(['fake', 'fake-alt']);
    });

    it('imports an ESM-only package through its import condition', async () => {
      const definition = await importEngine('talkies-engine-esm-only', [app]);
      expect(definition.name).toBe('talkies-engine-esm-only');
    });

    it('looks in each base directory in turn', async () => {
      const definition = await importEngine('talkies-engine-second', [emptyDirectory, app, secondApp]);
      expect(definition.name).toBe('talkies-engine-second');
    });

    it('fails with EXECUTOR_NOT_FOUND for a package that is not installed', async () => {
      const error = await speechRejection(importEngine('talkies-engine-missing', [app]));
      expect(error.code).toBe('EXECUTOR_NOT_FOUND');
      expect(error.message).toContain("engine package 'talkies-engine-missing' is not installed");
      expect(error.message).toContain('pnpm add talkies-engine-missing');
    });

    it('fails with EXECUTOR_NOT_FOUND for a package without an engine default export', async () => {
      const error = await speechRejection(importEngine('not-an-engine', [app]));
      expect(error.code).toBe('EXECUTOR_NOT_FOUND');
      expect(error.message).toContain("package 'not-an-engine' has no engine as its default export");
    });

    it('fails with ENGINE_VERSION_MISMATCH when coreRange excludes this core', async () => {
      const error = await speechRejection(importEngine('talkies-engine-too-new', [app]));
      expect(error.code).toBe('ENGINE_VERSION_MISMATCH');
      expect(error.status).toBe(500);
      expect(error.message).toContain('^99.0.0');
      expect(error.message).toContain(CORE_VERSION);
    });

    it('follows conditional exports as import() does (node + import, not default or require)', async () => {
      const definition = await importEngine('talkies-engine-conditional', [app]);
      expect(definition.name).toBe('talkies-engine-conditional');
    });

    it('resolves subpath exports and subpath patterns of an engine package', async () => {
      expect(await importFrom('talkies-engine-conditional/testing', [emptyDirectory, app])).toMatchObject({ marker: 'testing' });
      expect(await importFrom('talkies-engine-conditional/formats/srt', [app])).toMatchObject({ marker: 'srt' });
      expect(await importFrom('talkies-engine-conditional/esm/node.js', [app])).toBeUndefined();
      expect(await importFrom('talkies-engine-conditional/formats/vtt', [app])).toBeUndefined();
    });

    it('fails with ENGINE_VERSION_MISMATCH for an engine of another contract version', async () => {
      const error = await speechRejection(importEngine('talkies-engine-v2', [app]));
      expect(error.code).toBe('ENGINE_VERSION_MISMATCH');
      expect(error.message).toContain("engine 'talkies-engine-v2' implements Backend contract v2");
      expect(error.message).toContain('speaks v1');
    });

    it('treats an unparseable coreRange as a mismatch', async () => {
      const error = await speechRejection(importEngine('talkies-engine-bad-range', [app]));
      expect(error.code).toBe('ENGINE_VERSION_MISMATCH');
    });
  });

  describe('resolveEngines', () => {
    it('maps each slug to its engine through the executor, importing each package once', async () => {
      const registry = registryOf({
        one: { repo: 'r/one', executor: 'fake' },
        two: { repo: 'r/two', executor: 'fake-alt' },
        three: { repo: 'r/three', executor: 'scoped' },
      });
      const { bySlug, available } = await resolveEngines(registry, [app]);
      expect([...bySlug.keys()]).toEqual(['one', 'two', 'three']);
      expect(bySlug.get('one')?.name).toBe('talkies-engine-fake');
      expect(bySlug.get('two')).toBe(bySlug.get('one'));
      expect(bySlug.get('three')?.name).toBe('@acme/talkies-engine-scoped');
      expect(available.get('dev')?.packageName).toBe('talkies-engine-dev');
      const backend = bySlug.get('one')!.createBackend({ modelId: 'one' } as never) as unknown as Record<string, unknown>;
      expect(backend).toMatchObject({ engine: 'talkies-engine-fake', modelId: 'one' });
    });

    it('uses the package field of an entry (third-party engines)', async () => {
      const registry = registryOf({ mine: { repo: 'r/mine', executor: 'custom', package: 'third-party-engine' } });
      const { bySlug } = await resolveEngines(registry, [app]);
      expect(bySlug.get('mine')?.name).toBe('third-party-engine');
    });

    it('lets the package field override the discovered engine of an executor', async () => {
      const registry = registryOf({ pinned: { repo: 'r/p', executor: 'fake', package: 'talkies-engine-duplicate' } });
      const { bySlug } = await resolveEngines(registry, [app]);
      expect(bySlug.get('pinned')?.name).toBe('talkies-engine-duplicate');
    });

    it('merges engines from several base directories, the first one winning', async () => {
      const registry = registryOf({
        a: { repo: 'r/a', executor: 'second' },
        b: { repo: 'r/b', executor: 'fake' },
      });
      const { bySlug, available } = await resolveEngines(registry, [app, secondApp]);
      expect(bySlug.get('a')?.name).toBe('talkies-engine-second');
      expect(bySlug.get('b')?.name).toBe('talkies-engine-fake');
      expect(available.get('fake')?.packageName).toBe('talkies-engine-fake');
    });

    it('fails on an unknown executor, listing the available ones', async () => {
      const registry = registryOf({ psychic: { repo: 'r/x', executor: 'telepathy' } });
      const error = await speechRejection(resolveEngines(registry, [app]));
      expect(error.code).toBe('EXECUTOR_NOT_FOUND');
      expect(error.message).toBe(
        `model 'psychic': no such executor "telepathy" (available: conditional, dev, duplicate, esm, fake, fake-alt, scoped); install its engine package or set "package" in the entry`,
      );
    });

    it('reports every unknown executor at once', async () => {
      const registry = registryOf({
        ok: { repo: 'r/ok', executor: 'fake' },
        psychic: { repo: 'r/x', executor: 'telepathy' },
        oracle: { repo: 'r/y', executor: 'divination' },
      });
      const error = await speechRejection(resolveEngines(registry, [app]));
      expect(error.message.split('\n')).toHaveLength(2);
      expect(error.message).toContain('no such executor "telepathy"');
      expect(error.message).toContain('no such executor "divination"');
    });

    it('says "none" when no engine is installed', async () => {
      const registry = registryOf({ w: { repo: 'r/w', executor: 'whisper' } });
      const error = await speechRejection(resolveEngines(registry, [emptyDirectory]));
      expect(error.message).toContain('no such executor "whisper" (available: none)');
    });

    it('fails when the named package does not serve the executor', async () => {
      const registry = registryOf({ odd: { repo: 'r/o', executor: 'kokoro', package: 'third-party-engine' } });
      const error = await speechRejection(resolveEngines(registry, [app]));
      expect(error.code).toBe('EXECUTOR_NOT_FOUND');
      expect(error.message).toBe(`model 'odd': package 'third-party-engine' serves custom, not "kokoro"`);
    });

    it('fails when the named package is not installed', async () => {
      const registry = registryOf({ gone: { repo: 'r/g', executor: 'x', package: 'talkies-engine-gone' } });
      const error = await speechRejection(resolveEngines(registry, [app]));
      expect(error.code).toBe('EXECUTOR_NOT_FOUND');
      expect(error.message).toContain("'talkies-engine-gone' is not installed");
    });

    it('fails at boot with ENGINE_VERSION_MISMATCH when an engine needs another core', async () => {
      const registry = registryOf({ later: { repo: 'r/l', executor: 'future', package: 'talkies-engine-too-new' } });
      const error = await speechRejection(resolveEngines(registry, [app]));
      expect(error.code).toBe('ENGINE_VERSION_MISMATCH');
      expect(error.message).toContain("engine 'talkies-engine-too-new' needs @talkies/core ^99.0.0");
    });

    it('only imports the engines that models.json uses', async () => {
      // not-an-engine is a dependency that claims an executor but would fail to import.
      const registry = registryOf({ one: { repo: 'r/one', executor: 'second' } });
      const { bySlug, available } = await resolveEngines(registry, [secondApp]);
      expect(available.get('broken')?.packageName).toBe('not-an-engine');
      expect(bySlug.get('one')?.name).toBe('talkies-engine-second');
    });
  });

  describe('engine fields and options', () => {
    it("hands an entry's engine-specific fields, parsed by the engine, to the engine", async () => {
      const registry = registryOf({ q: { repo: 'r/q', executor: 'conditional', quant: 'q8_0' } });
      const { settings } = await resolveEngines(registry, [app]);
      expect(settings.get('q')).toEqual({ options: {}, fields: { quant: 'q8_0' } });
    });

    it('reports fields the engine refuses, and fields of engines that take none', async () => {
      const registry = registryOf({
        q: { repo: 'r/q', executor: 'conditional', quant: 8, gguf: 'x' },
        f: { repo: 'r/f', executor: 'fake', qwen3_mode: 'base' },
      });
      const error = await speechRejection(resolveEngines(registry, [app]));
      expect(error.message.split('\n')).toEqual([
        'models.q.gguf: unknown field; this engine takes "quant"',
        "models.f.qwen3_mode: unknown field; talkies-engine-fake takes no fields of its own (put engine settings in \"engineOptions\")",
      ]);
    });
  });

  describe('loadModels', () => {
    async function load(text: string, enabled?: string[]) {
      const file = join(root, `models-${Math.random().toString(36).slice(2)}.json`);
      await writeFile(file, text);
      return loadModels({ modelsFile: file, baseDirectories: [app], enabled });
    }

    it('loads the registry and its engines', async () => {
      const { registry, engines } = await load(JSON.stringify({ models: { one: { repo: 'r/one', executor: 'fake' } } }));
      expect(registry.slugs).toEqual(['one']);
      expect(engines.bySlug.get('one')?.name).toBe('talkies-engine-fake');
    });

    it('reports schema errors, unknown executors and duplicate slugs in one error', async () => {
      const text = `{"models": {
        "bad": {"executor": "fake", "max_concurrency": 0},
        "lost": {"repo": "r/l", "executor": "telepathy"},
        "twice": {"repo": "r/1", "executor": "fake"},
        "twice": {"repo": "r/2", "executor": "fake"}
      }}`;
      const error = await speechRejection(load(text));
      expect(error.code).toBe('CONFIG_INVALID');
      const lines = error.message.split('\n').slice(1).map((line) => line.replace(/^\s+- /, ''));
      expect(lines).toEqual([
        'models.twice: defined twice; JSON keeps only the last definition, so remove or rename one',
        "models.bad.repo: missing 'repo': set it to a Hugging Face repo id (or the system tool the engine runs)",
        'models.bad.max_concurrency: Too small: expected number to be >=1',
        `model 'lost': no such executor "telepathy" (available: conditional, dev, duplicate, esm, fake, fake-alt, scoped); install its engine package or set "package" in the entry`,
      ]);
      expect(error.message).toMatch(/is invalid \(4 problems\); fix these and restart/);
    });

    it('reports unknown executors, engine fields and duplicates together when the schema passes', async () => {
      const text = `{"models": {
        "lost": {"repo": "r/l", "executor": "telepathy"},
        "q": {"repo": "r/q", "executor": "conditional", "quant": 8},
        "q": {"repo": "r/q", "executor": "conditional"}
      }}`;
      const error = await speechRejection(load(text));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain('is invalid (2 problems)');
      expect(error.message).toContain('models.q: defined twice');
      expect(error.message).toContain('no such executor "telepathy"');
    });

    it('reports a missing executor with what to do', async () => {
      const error = await speechRejection(load(JSON.stringify({ models: { w: { repo: 'r/w' } } })));
      expect(error.message).toContain("models.w.executor: missing 'executor': name the engine that runs this model");
    });
  });
});
