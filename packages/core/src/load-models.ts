/**
 * Boot-time configuration: models.json, the engines its executors name, and each entry's
 * engine-specific settings, checked together. Every problem (JSON duplicates, schema
 * errors, unknown executors, engine fields and options) lands in one report, so a user
 * fixes the file in one pass. `serve`, `talkies models`, `talkies pull` and `pnpm
 * fixtures` all find engines through here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext, EngineDefinition } from './define-engine.js';
import { findDuplicateKeys } from './json-duplicate-keys.js';
import { configError, CORE_ENTRY_FIELDS, formatIssues, ModelRegistry, type RegistryOptions } from './model-registry.js';
import { discoverAllEngines, importEngine, type DiscoveredEngine } from './plugin-loader.js';
import { SpeechError } from './speech-error.js';

/** What an entry's engine made of its settings. */
export interface ModelSettings {
  /** `engineOptions`, parsed by the engine's `optionsSchema`. */
  options: unknown;
  /** The engine's own top-level fields, parsed by its `entrySchema`. */
  fields: Record<string, unknown>;
}

export interface ResolvedEngines {
  /** slug → engine definition */
  bySlug: Map<string, EngineDefinition>;
  /** slug → parsed engine settings */
  settings: Map<string, ModelSettings>;
  /** every executor → package known at boot, for messages and `talkies models` */
  available: Map<string, DiscoveredEngine>;
}

function listExecutors(available: Map<string, DiscoveredEngine>): string {
  return [...available.keys()].sort().join(', ') || 'none';
}

function unknownExecutor(slug: string, executor: string, available: Map<string, DiscoveredEngine>): string {
  return `model '${slug}': no such executor "${executor}" (available: ${listExecutors(available)}); install its engine package or set "package" in the entry`;
}

/** Parse an entry's engine settings; problems are appended. */
function parseSettings(slug: string, entry: Record<string, unknown>, engine: EngineDefinition, problems: string[]): ModelSettings {
  let options: unknown = entry.engineOptions ?? {};
  if (engine.optionsSchema) {
    const parsed = engine.optionsSchema.safeParse(options);
    if (parsed.success) options = parsed.data;
    else problems.push(...formatIssues(parsed.error.issues, `models.${slug}.engineOptions.`).map((line) => line.replace(/\.\(top level\)/, '')));
  }
  const own = Object.fromEntries(Object.entries(entry).filter(([key]) => !CORE_ENTRY_FIELDS.has(key)));
  let fields: Record<string, unknown> = {};
  if (engine.entrySchema) {
    const parsed = engine.entrySchema.safeParse(own);
    if (parsed.success) fields = parsed.data;
    else problems.push(...formatIssues(parsed.error.issues, `models.${slug}.`));
  } else if (Object.keys(own).length > 0) {
    for (const key of Object.keys(own)) {
      problems.push(
        `models.${slug}.${key}: unknown field; ${engine.name} takes no fields of its own (put engine settings in "engineOptions")`,
      );
    }
  }
  return { options, fields };
}

interface CheckedEntries {
  bySlug: Map<string, EngineDefinition>;
  settings: Map<string, ModelSettings>;
  problems: string[];
}

/**
 * Find, import and check the engine of each entry. Entries may be raw JSON when the
 * file failed its schema: whatever can be judged is judged, so one report lists it all.
 */
async function checkEntries(
  entries: Iterable<[string, unknown]>,
  baseDirectories: readonly string[],
  available: Map<string, DiscoveredEngine>,
): Promise<CheckedEntries> {
  const problems: string[] = [];
  const bySlug = new Map<string, EngineDefinition>();
  const settings = new Map<string, ModelSettings>();
  const definitions = new Map<string, Promise<EngineDefinition>>();
  const reported = new Set<string>();
  for (const [slug, raw] of entries) {
    if (typeof raw !== 'object' || raw === null) continue;
    const entry = raw as Record<string, unknown>;
    const executor = entry.executor;
    if (typeof executor !== 'string' || executor === '') continue;
    const named = typeof entry.package === 'string' ? entry.package : undefined;
    const packageName = named ?? available.get(executor)?.packageName;
    if (!packageName) {
      problems.push(unknownExecutor(slug, executor, available));
      continue;
    }
    if (!definitions.has(packageName)) definitions.set(packageName, importEngine(packageName, baseDirectories));
    let definition: EngineDefinition;
    try {
      definition = await definitions.get(packageName)!;
    } catch (error) {
      if (!SpeechError.is(error) || error.code !== 'EXECUTOR_NOT_FOUND') throw error;
      if (!reported.has(packageName)) problems.push(`model '${slug}': ${error.message}`);
      reported.add(packageName);
      continue;
    }
    if (!definition.executors.includes(executor)) {
      problems.push(`model '${slug}': package '${packageName}' serves ${definition.executors.join(', ')}, not "${executor}"`);
      continue;
    }
    bySlug.set(slug, definition);
    settings.set(slug, parseSettings(slug, entry, definition, problems));
  }
  return { bySlug, settings, problems };
}

/**
 * Resolve the engine of every model in the registry, importing each package once, and
 * parse each entry's engine settings. Every problem is reported together.
 */
export async function resolveEngines(registry: ModelRegistry, baseDirectories: readonly string[]): Promise<ResolvedEngines> {
  const available = await discoverAllEngines(baseDirectories);
  const { bySlug, settings, problems } = await checkEntries(registry.entries(), baseDirectories, available);
  if (problems.length > 0) throw new SpeechError('EXECUTOR_NOT_FOUND', problems.join('\n'));
  return { bySlug, settings, available };
}

export interface LoadModelsOptions extends RegistryOptions {
  /** The models.json to read. */
  modelsFile: string;
  /** Application directories to find engine packages from, first one winning. */
  baseDirectories: readonly string[];
}

/**
 * Read models.json and resolve its engines. Throws one CONFIG_INVALID error that lists
 * every problem of the file: duplicate keys, schema errors, unknown executors, engine
 * fields and options, and the TALKIES_ENABLED_MODELS / TALKIES_PRELOAD names.
 */
export async function loadModels(options: LoadModelsOptions): Promise<{ registry: ModelRegistry; engines: ResolvedEngines }> {
  const source = options.source ?? options.modelsFile;
  let text: string;
  try {
    text = await readFile(options.modelsFile, 'utf8');
  } catch (cause) {
    throw new SpeechError(
      'CONFIG_INVALID',
      `cannot read the models file ${options.modelsFile} (${(cause as Error).message}); set TALKIES_MODELS_FILE to a models.json`,
      { cause },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SpeechError('CONFIG_INVALID', `${options.modelsFile} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const problems = findDuplicateKeys(text);
  const { registry, problems: schemaProblems } = ModelRegistry.validate(json, options);
  problems.push(...schemaProblems);
  const available = await discoverAllEngines(options.baseDirectories);
  // With a valid registry, its (enabled) entries; otherwise the raw ones, so that the
  // executors and engine fields that are spelled out are checked in this same report.
  const models = (json as { models?: unknown } | null)?.models;
  const entries = registry
    ? registry.entries()
    : models && typeof models === 'object'
      ? Object.entries(models as Record<string, unknown>)
      : [];
  const checked = await checkEntries(entries, options.baseDirectories, available);
  problems.push(...checked.problems);
  if (!registry || problems.length > 0) throw configError(source, problems);
  return { registry, engines: { bySlug: checked.bySlug, settings: checked.settings, available } };
}

/** The plain context an engine gets for one model of a loaded catalog. */
export function engineContext(
  registry: ModelRegistry,
  engines: ResolvedEngines,
  slug: string,
  runtime: Pick<EngineContext, 'logger' | 'signal' | 'now'> & { dataDir: string },
): EngineContext {
  const entry = registry.require(slug);
  const settings = engines.settings.get(slug) ?? { options: {}, fields: {} };
  return {
    modelId: slug,
    entry,
    options: settings.options,
    fields: settings.fields,
    paths: { dataDir: runtime.dataDir, modelDir: join(runtime.dataDir, 'models', slug) },
    logger: runtime.logger,
    signal: runtime.signal,
    now: runtime.now,
  };
}
