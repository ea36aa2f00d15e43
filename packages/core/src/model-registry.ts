/**
 * The model registry: models.json, validated once at boot and immutable afterwards.
 * Every problem in the file is collected and reported together, so a user fixes them in
 * one pass instead of one restart per typo.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SpeechError } from './speech-error.js';

const slugPattern = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/** One models.json entry. Field names follow the Python talkies seed. */
export const modelEntrySchema = z
  .object({
    /** Where the weights come from (a Hugging Face repo id, or a system tool). */
    repo: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? "missing 'repo': set it to a Hugging Face repo id (or the system tool the engine runs)"
            : 'must be a non-empty string',
      })
      .min(1, 'must be a non-empty string'),
    /** Which engine runs it; resolved to an engine package at boot. */
    executor: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? "missing 'executor': name the engine that runs this model (`talkies models` lists the installed ones)"
            : 'must be a non-empty string',
      })
      .min(1, 'must be a non-empty string'),
    /** A third-party engine package that serves `executor` (escape hatch). */
    package: z.string().min(1).optional(),
    /** `asr` or `tts`; informational, the backend's own modality wins. */
    modality: z.enum(['asr', 'tts']).optional(),
    default_source_lang: z.string().min(1).optional(),
    default_target_lang: z.string().min(1).optional(),
    default_task: z.string().min(1).optional(),
    default_voice: z.string().min(1).optional(),
    default_language: z.string().min(1).optional(),
    languages: z.array(z.string().min(1)).optional(),
    /** Extra repos fetched alongside the model. */
    dependencies: z.array(z.string().min(1)).optional(),
    /** Requests served at once; more are queued. */
    max_concurrency: z.number().int('must be an integer').min(1).max(1024).optional(),
    /** Pinned revision of `repo`. */
    revision: z.string().min(1).optional(),
    /** The model's license, shown by `talkies models`. */
    license: z.string().min(1).optional(),
    description: z.string().optional(),
    /** Engine-specific knobs, parsed by the engine's own schema. */
    engineOptions: z.record(z.string(), z.unknown()).optional(),
    /**
     * Other names clients may send for this model, e.g. OpenAI's `whisper-1` or `tts-1` for
     * clients that hard-code them. Each resolves to this slug wherever a model is named.
     */
    aliases: z.array(z.string().regex(slugPattern, 'an alias may use letters, digits, ".", "_", "-" and "/"')).optional(),
  })
  // Other top-level fields belong to the entry's engine (`gguf_file`, `qwen3_mode`, …):
  // its `entrySchema` validates them once the engine is known, and rejects the rest.
  .catchall(z.unknown());

/** The fields every entry may have, whatever its engine. */
export const CORE_ENTRY_FIELDS: ReadonlySet<string> = new Set(Object.keys(modelEntrySchema.shape));

export type ModelEntry = z.output<typeof modelEntrySchema>;

export const modelsFileSchema = z
  .object(
    {
      models: z
        .record(
          z
            .string()
            .regex(slugPattern, 'slug may use letters, digits, ".", "_", "-" and "/"')
            // The slug names a directory under $TALKIES_DATA_DIR/models: no way out of it.
            .refine(
              (slug) => slug.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'),
              'slug parts between "/" may not be empty, "." or ".."',
            ),
          modelEntrySchema,
          {
            error: (issue) =>
              issue.input === undefined
                ? 'missing "models": add an object that maps each model slug to its entry'
                : 'must be an object that maps each model slug to its entry',
          },
        )
        .refine((models) => Object.keys(models).length > 0, 'must list at least one model'),
    },
    { error: 'the top level must be a JSON object of the form {"models": {"<slug>": {...}}}' },
  )
  .passthrough();

/** Formats zod issues as `path: message` lines, one per problem. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    // zod wraps a failed record key in a generic "Invalid key in record": surface the
    // key schema's own messages (the slug rules) instead.
    const message =
      issue.code === 'invalid_key' && issue.issues.length > 0
        ? `invalid slug; ${issue.issues.map((inner) => inner.message).join('; ')}`
        : issue.message;
    return `${prefix}${path}: ${message}`;
  });
}

export interface RegistryOptions {
  /** `TALKIES_ENABLED_MODELS`: when non-empty, only these slugs, in this order. */
  enabled?: readonly string[];
  /** `TALKIES_PRELOAD`: slugs loaded at boot. */
  preload?: readonly string[];
  /** Name used in error messages (defaults to "models.json"). */
  source?: string;
}

/** The immutable catalog the server serves. */
export class ModelRegistry {
  readonly #entries: ReadonlyMap<string, ModelEntry>;
  /** Alias → slug, for the served models. */
  readonly #aliases: ReadonlyMap<string, string>;
  /** Slugs loaded at boot, validated against the catalog. */
  readonly preload: readonly string[];

  private constructor(entries: Map<string, ModelEntry>, preload: string[]) {
    this.#entries = entries;
    const aliases = new Map<string, string>();
    for (const [slug, entry] of entries) for (const alias of entry.aliases ?? []) aliases.set(alias, slug);
    this.#aliases = aliases;
    this.preload = Object.freeze(preload);
    Object.freeze(this);
  }

  /** Validate parsed JSON. Throws one CONFIG_INVALID error listing every problem. */
  static fromJson(json: unknown, options: RegistryOptions = {}): ModelRegistry {
    const source = options.source ?? 'models.json';
    const { registry, problems } = ModelRegistry.validate(json, options);
    if (!registry) throw configError(source, problems);
    return registry;
  }

  /**
   * Validate parsed JSON without throwing: the registry when the file is valid, and every
   * problem found (the callers add theirs, such as unknown executors, before reporting).
   */
  static validate(json: unknown, options: RegistryOptions = {}): { registry?: ModelRegistry; problems: string[] } {
    const parsed = modelsFileSchema.safeParse(json);
    if (!parsed.success) return { problems: formatIssues(parsed.error.issues) };
    const all = parsed.data.models;
    const catalog = Object.keys(all);
    const problems: string[] = [];
    // An alias names exactly one model, and never shadows a slug.
    const aliasOwners = new Map<string, string>();
    for (const [slug, entry] of Object.entries(all)) {
      for (const alias of entry.aliases ?? []) {
        if (alias in all) problems.push(`models.${slug}.aliases: '${alias}' is already the slug of a model`);
        else if (aliasOwners.has(alias) && aliasOwners.get(alias) !== slug) {
          problems.push(`models.${slug}.aliases: '${alias}' is also an alias of '${aliasOwners.get(alias)}'`);
        } else aliasOwners.set(alias, slug);
      }
    }
    const enabled = options.enabled?.filter((slug) => slug.trim() !== '').map((slug) => slug.trim()) ?? [];
    for (const slug of enabled) {
      if (!(slug in all)) problems.push(`TALKIES_ENABLED_MODELS names unknown model '${slug}' (the catalog has: ${catalog.join(', ')})`);
    }
    const chosen = enabled.length > 0 ? [...new Set(enabled)].filter((slug) => slug in all) : catalog;
    const preload = options.preload?.filter((slug) => slug.trim() !== '').map((slug) => slug.trim()) ?? [];
    for (const slug of preload) {
      if (!chosen.includes(slug)) {
        problems.push(
          slug in all
            ? `TALKIES_PRELOAD names '${slug}', which TALKIES_ENABLED_MODELS leaves out`
            : `TALKIES_PRELOAD names unknown model '${slug}' (the catalog has: ${catalog.join(', ')})`,
        );
      }
    }
    if (problems.length > 0) return { problems };
    const entries = new Map<string, ModelEntry>();
    // Frozen all the way down: engines get entries, and the catalog must not change after boot.
    for (const slug of chosen) entries.set(slug, deepFreeze(all[slug]!));
    return { registry: new ModelRegistry(entries, [...new Set(preload)]), problems };
  }

  /** Read and validate a models.json file. */
  static async fromFile(path: string, options: RegistryOptions = {}): Promise<ModelRegistry> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      throw new SpeechError(
        'CONFIG_INVALID',
        `cannot read the models file ${path} (${(cause as Error).message}); set TALKIES_MODELS_FILE to a models.json`,
        { cause },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new SpeechError('CONFIG_INVALID', `${path} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
    return ModelRegistry.fromJson(json, { ...options, source: options.source ?? path });
  }

  /** Slugs in catalog order. */
  get slugs(): string[] {
    return [...this.#entries.keys()];
  }

  has(slug: string): boolean {
    return this.#entries.has(slug);
  }

  get(slug: string): ModelEntry | undefined {
    return this.#entries.get(slug);
  }

  /** The slug a client's model name stands for: the slug itself, or the model an alias belongs to. */
  resolve(name: string): string | undefined {
    return this.#entries.has(name) ? name : this.#aliases.get(name);
  }

  /** The entry for a slug or an alias, or a MODEL_NOT_FOUND error that lists the catalog. */
  require(name: string): ModelEntry {
    const slug = this.resolve(name) ?? name;
    const entry = this.#entries.get(slug);
    if (!entry) {
      throw new SpeechError('MODEL_NOT_FOUND', `unknown model '${slug}'; configured: ${this.slugs.join(', ')}`, {
        model: slug,
        param: 'model',
      });
    }
    return entry;
  }

  entries(): [string, ModelEntry][] {
    return [...this.#entries.entries()];
  }
}

/** One CONFIG_INVALID error that lists every problem of a models file. */
export function configError(source: string, problems: readonly string[]): SpeechError {
  return new SpeechError(
    'CONFIG_INVALID',
    `${source} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}); fix these and restart:\n  - ${problems.join('\n  - ')}`,
  );
}

/** Split a comma list env var: trimmed, blanks dropped, order kept. */
export function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
