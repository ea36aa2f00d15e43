import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry, formatIssues, modelEntrySchema, parseList, type RegistryOptions } from './model-registry.js';
import { SpeechError } from './speech-error.js';

/** Three fake slugs, like the Python test_config fixture. */
function catalog() {
  return {
    models: {
      'whisper-tiny': { repo: 'Systran/faster-whisper-tiny', executor: 'whisper' },
      'canary-tiny': { repo: 'nvidia/canary-tiny', executor: 'canary_multitask', default_task: 'asr' },
      'kokoro-82m': { repo: 'hexgrad/Kokoro-82M', executor: 'kokoro', modality: 'tts', default_voice: 'af_heart' },
    },
  };
}

/** Runs `fn`, expects a SpeechError and returns it. */
function speechErrorOf(fn: () => unknown): SpeechError {
  try {
    fn();
  } catch (error) {
    expect(SpeechError.is(error)).toBe(true);
    return error as SpeechError;
  }
  throw new Error('expected a SpeechError, nothing was thrown');
}

async function rejectedSpeechError(promise: Promise<unknown>): Promise<SpeechError> {
  try {
    await promise;
  } catch (error) {
    expect(SpeechError.is(error)).toBe(true);
    return error as SpeechError;
  }
  throw new Error('expected a SpeechError, the promise resolved');
}

function invalid(json: unknown, options?: RegistryOptions): SpeechError {
  const error = speechErrorOf(() => ModelRegistry.fromJson(json, options));
  expect(error.code).toBe('CONFIG_INVALID');
  return error;
}

describe('ModelRegistry.fromJson', () => {
  it('keeps every entry in file order and applies defaults', () => {
    const registry = ModelRegistry.fromJson(catalog());
    expect(registry.slugs).toEqual(['whisper-tiny', 'canary-tiny', 'kokoro-82m']);
    expect(registry.has('kokoro-82m')).toBe(true);
    expect(registry.get('kokoro-82m')).toEqual({
      repo: 'hexgrad/Kokoro-82M',
      executor: 'kokoro',
      modality: 'tts',
      default_voice: 'af_heart',
    });
    expect(registry.entries().map(([slug]) => slug)).toEqual(registry.slugs);
    expect(registry.preload).toEqual([]);
  });

  it('requires an executor, and says how to find one', () => {
    expect(invalid({ models: { w: { repo: 'a/b' } } }).message).toContain(
      "models.w.executor: missing 'executor': name the engine that runs this model (`talkies models` lists the installed ones)",
    );
  });

  it('accepts every documented field', () => {
    const entry = {
      repo: 'mudler/parakeet-cpp-gguf',
      executor: 'parakeet_cpp',
      package: '@acme/talkies-engine-parakeet',
      modality: 'asr',
      default_source_lang: 'auto',
      default_target_lang: 'en',
      default_task: 'asr',
      default_voice: 'alloy',
      default_language: 'English',
      qwen3_mode: 'base',
      gguf_file: 'model.gguf',
      languages: ['en', 'de'],
      dependencies: ['Qwen/Qwen3-1.7B'],
      max_concurrency: 2,
      revision: '672fbf1b30579d6585301139bb363f42a0ad4a24',
      license: 'CC-BY-4.0',
      description: 'a model',
      engineOptions: { beamSize: 5 },
    };
    const registry = ModelRegistry.fromJson({ models: { 'nemotron-3.5-asr-0.6b': entry } });
    expect(registry.get('nemotron-3.5-asr-0.6b')).toEqual(entry);
  });

  it('ignores unknown top-level keys, and keeps unknown entry keys for the engine to judge', () => {
    expect(ModelRegistry.fromJson({ $schema: 'x', ...catalog() }).slugs).toHaveLength(3);
    // The engine's entrySchema accepts or refuses them at boot (see load-models).
    expect(ModelRegistry.fromJson({ models: { w: { repo: 'a/b', executor: 'whisper', gguf_file: 'x.gguf' } } }).get('w')).toMatchObject({
      gguf_file: 'x.gguf',
    });
  });

  it('accepts slugs with dots, underscores, dashes and slashes', () => {
    const registry = ModelRegistry.fromJson({ models: { 'org/model_v1.5-x': { repo: 'a/b', executor: 'whisper' } } });
    expect(registry.slugs).toEqual(['org/model_v1.5-x']);
  });

  describe('enabled models (TALKIES_ENABLED_MODELS)', () => {
    it('empty means all', () => {
      expect(ModelRegistry.fromJson(catalog(), { enabled: [] }).slugs).toEqual(['whisper-tiny', 'canary-tiny', 'kokoro-82m']);
      expect(ModelRegistry.fromJson(catalog(), { enabled: ['', '  '] }).slugs).toHaveLength(3);
    });

    it('filters the registry', () => {
      const registry = ModelRegistry.fromJson(catalog(), { enabled: ['whisper-tiny'] });
      expect(registry.slugs).toEqual(['whisper-tiny']);
      expect(registry.has('kokoro-82m')).toBe(false);
      expect(registry.get('kokoro-82m')).toBeUndefined();
    });

    it('preserves the order of the list, not of the file', () => {
      expect(ModelRegistry.fromJson(catalog(), { enabled: ['kokoro-82m', 'whisper-tiny'] }).slugs).toEqual([
        'kokoro-82m',
        'whisper-tiny',
      ]);
    });

    it('trims whitespace, drops blanks and duplicates', () => {
      const enabled = parseList(' whisper-tiny , , canary-tiny ,');
      expect(enabled).toEqual(['whisper-tiny', 'canary-tiny']);
      expect(ModelRegistry.fromJson(catalog(), { enabled }).slugs).toEqual(['whisper-tiny', 'canary-tiny']);
      expect(ModelRegistry.fromJson(catalog(), { enabled: [' kokoro-82m ', 'kokoro-82m', ''] }).slugs).toEqual([
        'kokoro-82m',
      ]);
    });

    it('fails fast on an unknown slug, naming it and listing the catalog', () => {
      const error = invalid(catalog(), { enabled: ['whisper-tiny', 'whisper-huge'] });
      expect(error.status).toBe(500);
      expect(error.message).toContain("TALKIES_ENABLED_MODELS names unknown model 'whisper-huge'");
      expect(error.message).toContain('whisper-tiny, canary-tiny, kokoro-82m');
      expect(error.message).not.toContain("'whisper-tiny'");
    });

    it('fails fast when every slug is unknown, naming all of them', () => {
      const error = invalid(catalog(), { enabled: ['nope', 'nada'] });
      expect(error.message).toContain("'nope'");
      expect(error.message).toContain("'nada'");
    });
  });

  describe('preload (TALKIES_PRELOAD)', () => {
    it('keeps the validated, deduplicated slugs', () => {
      const registry = ModelRegistry.fromJson(catalog(), { preload: [' kokoro-82m', 'whisper-tiny', 'kokoro-82m', ''] });
      expect(registry.preload).toEqual(['kokoro-82m', 'whisper-tiny']);
      expect(Object.isFrozen(registry.preload)).toBe(true);
    });

    it('rejects an unknown slug', () => {
      expect(invalid(catalog(), { preload: ['ghost'] }).message).toContain("TALKIES_PRELOAD names unknown model 'ghost'");
    });

    it('rejects a slug that the enabled list leaves out', () => {
      const error = invalid(catalog(), { enabled: ['whisper-tiny'], preload: ['kokoro-82m'] });
      expect(error.message).toContain("TALKIES_PRELOAD names 'kokoro-82m', which TALKIES_ENABLED_MODELS leaves out");
    });

    it('reports enabled and preload problems together', () => {
      const error = invalid(catalog(), { enabled: ['x'], preload: ['y'] });
      expect(error.message).toContain("'x'");
      expect(error.message).toContain("'y'");
    });
  });

  describe('invalid files', () => {
    it('rejects a top level that is not an object', () => {
      for (const json of [[], ['whisper-tiny'], 'models', 42, null]) {
        const error = invalid(json);
        expect(error.message).toMatch(/top level/);
        expect(error.message).toContain('"models"');
      }
    });

    it('rejects a missing or malformed models object', () => {
      expect(invalid({}).message).toContain('missing "models"');
      expect(invalid({ models: [] }).message).toContain('models: must be an object');
      expect(invalid({ models: {} }).message).toContain('models: must list at least one model');
    });

    it('rejects an entry without repo, saying so', () => {
      const error = invalid({ models: { w: { executor: 'whisper' } } });
      expect(error.message).toContain("models.w.repo: missing 'repo'");
    });

    it('rejects an empty repo and an entry that is not an object', () => {
      expect(invalid({ models: { w: { repo: '', executor: 'whisper' } } }).message).toContain('models.w.repo: must be a non-empty string');
      expect(invalid({ models: { w: 'a/b' } }).message).toContain('models.w:');
    });

    it('rejects a bad slug, saying what a slug may contain', () => {
      const error = invalid({ models: { 'bad slug!': { repo: 'a/b', executor: 'whisper' } } });
      expect(error.message).toContain('bad slug!');
      expect(error.message).toContain('slug may use letters, digits');
    });

    it.each(['a/../../etc', 'a/..', 'a/./b', 'a//b', 'a/'])('rejects the path-like slug %j', (slug) => {
      const error = invalid({ models: { [slug]: { repo: 'a/b', executor: 'whisper' } } });
      expect(error.message).toContain('may not be empty, "." or ".."');
    });

    it('rejects bad field types and enums', () => {
      expect(invalid({ models: { w: { repo: 'a', executor: 'whisper', modality: 'video' } } }).message).toContain('models.w.modality');
      expect(invalid({ models: { w: { repo: 'a', executor: 'whisper', languages: 'en' } } }).message).toContain('models.w.languages');
      expect(invalid({ models: { w: { repo: 'a', executor: '' } } }).message).toContain('models.w.executor');
    });

    it.each([
      ['true', true],
      ['0', 0],
      ['-1', -1],
      ['1025', 1025],
      ['1.5', 1.5],
      ['"2"', '2'],
      ['null', null],
    ])('rejects max_concurrency %s', (_label, value) => {
      const error = invalid({ models: { w: { repo: 'a/b', executor: 'whisper', max_concurrency: value } } });
      expect(error.message).toContain('models.w.max_concurrency');
    });

    it.each([1, 2, 1024])('accepts max_concurrency %i', (value) => {
      expect(ModelRegistry.fromJson({ models: { w: { repo: 'a/b', executor: 'whisper', max_concurrency: value } } }).get('w')?.max_concurrency).toBe(
        value,
      );
    });

    it('lists every problem at once', () => {
      const error = invalid({
        models: {
          good: { repo: 'a/b', executor: 'whisper' },
          'no-repo': { executor: 'whisper' },
          'bad-concurrency': { repo: 'c/d', executor: 'whisper', max_concurrency: 0 },
          'no-executor': { repo: 'e/f', exector: 'kokoro' },
        },
      });
      expect(error.message).toMatch(/^models\.json is invalid \(3 problems\); fix these and restart:\n {2}- /);
      expect(error.message).toContain('models.no-repo.repo');
      expect(error.message).toContain('models.bad-concurrency.max_concurrency');
      expect(error.message).toContain('models.no-executor.executor: missing');
      expect(error.message).not.toContain('models.good');
      expect(error.message.split('\n  - ')).toHaveLength(4);
    });

    it('names the source in the message', () => {
      expect(invalid({}, { source: '/etc/talkies/models.json' }).message).toMatch(
        /^\/etc\/talkies\/models\.json is invalid \(1 problem\);/,
      );
    });
  });

  describe('lookups', () => {
    it('require() returns the entry or a 404 listing the configured slugs', () => {
      const registry = ModelRegistry.fromJson(catalog(), { enabled: ['kokoro-82m', 'whisper-tiny'] });
      expect(registry.require('whisper-tiny').repo).toBe('Systran/faster-whisper-tiny');
      const error = speechErrorOf(() => registry.require('canary-tiny'));
      expect(error.code).toBe('MODEL_NOT_FOUND');
      expect(error.status).toBe(404);
      expect(error.model).toBe('canary-tiny');
      expect(error.param).toBe('model');
      expect(error.message).toBe("unknown model 'canary-tiny'; configured: kokoro-82m, whisper-tiny");
    });

    it('cannot be changed after boot', () => {
      const registry = ModelRegistry.fromJson(catalog());
      expect(Object.isFrozen(registry)).toBe(true);
      expect(() => {
        (registry as unknown as { preload: string[] }).preload = ['x'];
      }).toThrow(TypeError);
      registry.slugs.push('injected');
      registry.entries().pop();
      expect(registry.slugs).toEqual(['whisper-tiny', 'canary-tiny', 'kokoro-82m']);
    });
  });
});

describe('ModelRegistry.fromFile', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'talkies-registry-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('reads and validates a file', async () => {
    const path = join(directory, 'models.json');
    await writeFile(path, JSON.stringify(catalog()));
    const registry = await ModelRegistry.fromFile(path, { enabled: ['canary-tiny'], preload: ['canary-tiny'] });
    expect(registry.slugs).toEqual(['canary-tiny']);
    expect(registry.preload).toEqual(['canary-tiny']);
  });

  it('fails on a missing file, naming it and the setting to change', async () => {
    const path = join(directory, 'missing.json');
    const error = await rejectedSpeechError(ModelRegistry.fromFile(path));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(path);
    expect(error.message).toContain('TALKIES_MODELS_FILE');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('fails on invalid JSON', async () => {
    const path = join(directory, 'broken.json');
    await writeFile(path, '{"models": {');
    const error = await rejectedSpeechError(ModelRegistry.fromFile(path));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(`${path} is not valid JSON`);
  });

  it('names the file in validation errors', async () => {
    const path = join(directory, 'list.json');
    await writeFile(path, '["whisper-tiny"]');
    const error = await rejectedSpeechError(ModelRegistry.fromFile(path));
    expect(error.message).toContain(`${path} is invalid (1 problem)`);
    expect(error.message).toContain('top level');
  });

  it('keeps the file name when options carry an undefined source', async () => {
    const path = join(directory, 'list2.json');
    await writeFile(path, '[]');
    const error = await rejectedSpeechError(ModelRegistry.fromFile(path, { source: undefined, enabled: [] }));
    expect(error.message).toContain(`${path} is invalid`);
  });

  it('lets an explicit source name win', async () => {
    const path = join(directory, 'list3.json');
    await writeFile(path, '[]');
    const error = await rejectedSpeechError(ModelRegistry.fromFile(path, { source: 'the catalog' }));
    expect(error.message).toMatch(/^the catalog is invalid/);
  });
});

describe('parseList', () => {
  it('splits a comma list, trimmed, blanks dropped, order kept', () => {
    expect(parseList(undefined)).toEqual([]);
    expect(parseList('')).toEqual([]);
    expect(parseList(' , ,')).toEqual([]);
    expect(parseList('b, a ,c')).toEqual(['b', 'a', 'c']);
  });
});

describe('formatIssues', () => {
  it('prints one path: message line per issue, with a prefix', () => {
    const parsed = modelEntrySchema.safeParse({ repo: 5, executor: 'whisper', max_concurrency: 0 });
    expect(parsed.success).toBe(false);
    const lines = formatIssues(parsed.error!.issues, '> ');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^> repo: /);
    expect(lines[1]).toMatch(/^> max_concurrency: /);
  });

  it('labels root issues as the top level', () => {
    const parsed = modelEntrySchema.safeParse('nope');
    expect(formatIssues(parsed.error!.issues)[0]).toMatch(/^\(top level\): /);
  });
});

describe('immutability after boot', () => {
  it('freezes entries and their nested values', () => {
    const registry = ModelRegistry.fromJson({ models: { a: { repo: 'r', executor: 'whisper', languages: ['en'], engineOptions: { x: { y: 1 } } } } });
    const entry = registry.get('a')!;
    expect(Object.isFrozen(entry)).toBe(true);
    expect(() => (entry.languages as string[]).push('fr')).toThrow();
    expect(Object.isFrozen((entry.engineOptions as { x: object }).x)).toBe(true);
  });
});

describe('aliases', () => {
  it('resolve to their model, and require() accepts them', () => {
    const registry = ModelRegistry.fromJson({ models: { 'org/big': { repo: 'r', executor: 'x', aliases: ['whisper-1'] }, small: { repo: 's', executor: 'x' } } });
    expect(registry.resolve('whisper-1')).toBe('org/big');
    expect(registry.resolve('org/big')).toBe('org/big');
    expect(registry.resolve('tts-1')).toBeUndefined();
    expect(registry.require('whisper-1')).toBe(registry.get('org/big'));
    expect(registry.slugs).toEqual(['org/big', 'small']);
    expect(() => registry.require('tts-1')).toThrow(/unknown model 'tts-1'; configured: org\/big, small/);
  });

  it('refuses an alias that is a slug or belongs to two models, listing every such problem', () => {
    const error = (() => {
      try {
        ModelRegistry.fromJson({ models: { a: { repo: 'r', executor: 'x', aliases: ['b', 'x'] }, b: { repo: 'r', executor: 'x', aliases: ['x'] } } });
      } catch (caught) {
        return caught as SpeechError;
      }
    })();
    expect(error?.code).toBe('CONFIG_INVALID');
    expect(error?.message).toMatch(/models\.a\.aliases: 'b' is already the slug of a model/);
    expect(error?.message).toMatch(/models\.b\.aliases: 'x' is also an alias of 'a'/);
  });

  it('an alias of a model left out by TALKIES_ENABLED_MODELS does not resolve', () => {
    const registry = ModelRegistry.fromJson({ models: { a: { repo: 'r', executor: 'x', aliases: ['tts-1'] }, b: { repo: 'r', executor: 'x' } } }, { enabled: ['b'] });
    expect(registry.resolve('tts-1')).toBeUndefined();
  });
});
