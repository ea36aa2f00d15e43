/**
 * The engine plugin contract. An engine package has one default export built with
 * {@link defineEngine}; the helper only exists so TypeScript infers the option types.
 */
import type { z } from 'zod';
import type { Backend } from './backend.js';
import type { ModelEntry } from './model-registry.js';

/** A minimal structured logger (pino's child loggers satisfy it). */
export interface EngineLogger {
  debug(object: object | string, message?: string): void;
  info(object: object | string, message?: string): void;
  warn(object: object | string, message?: string): void;
  error(object: object | string, message?: string): void;
}

/** Everything an engine gets to create one backend. Engines never see the DI container. */
export interface EngineContext<Options = unknown, Fields = Record<string, unknown>> {
  /** The model slug from models.json. */
  modelId: string;
  /** The validated models.json entry. */
  entry: ModelEntry;
  /** `engineOptions` of the entry, parsed with the engine's `optionsSchema`. */
  options: Options;
  /**
   * The entry's engine-specific top-level fields (such as `gguf_file`), parsed with the
   * engine's `entrySchema`; empty for engines without one.
   */
  fields: Fields;
  /** Where the model's files live and where downloads go. */
  paths: {
    /** `$TALKIES_DATA_DIR`. */
    dataDir: string;
    /** `$TALKIES_DATA_DIR/models/<slug>`. */
    modelDir: string;
  };
  /** Child logger bound to `{ executor, modelId }`. */
  logger: EngineLogger;
  /** Aborted when the server shuts down. */
  signal: AbortSignal;
  /** Milliseconds, monotonic; injected so tests control time. */
  now(): number;
}

/** Progress of one file of a model download. */
export interface DownloadProgress {
  file: string;
  received: number;
  total: number;
  done: boolean;
}

export interface DownloadOptions {
  onProgress?(progress: DownloadProgress): void;
  signal?: AbortSignal;
}

export interface EngineDefinition<Options = unknown, Fields = Record<string, unknown>> {
  /**
   * The Backend contract version this engine implements. Checked when the engine is
   * discovered, before any model loads; {@link defineEngine} fills in `'v1'`.
   */
  specificationVersion?: 'v1';
  /** The package name, for error messages. */
  name: string;
  /** The `executor` values of models.json this engine serves. */
  executors: readonly string[];
  /** The semver range of `@talkies/core` this engine was built against. */
  coreRange: string;
  /** Parses the entry's `engineOptions`; omitted means the engine takes none. */
  optionsSchema?: z.ZodType<Options>;
  /**
   * Parses the engine's own top-level fields of a models.json entry, for fields that the
   * seed's format puts there (`gguf_file`, `qwen3_mode`). Fields that neither core nor
   * this schema knows are reported at boot. Omitted means the engine adds no fields.
   */
  entrySchema?: z.ZodType<Fields>;
  /** Build a backend for one model. Must be cheap: heavy work belongs in `load()`. */
  createBackend(context: EngineContext<Options, Fields>): Backend;
  /**
   * Optional: fetch a model's files into `paths.modelDir` without loading it (`talkies
   * pull`). Engines without it are loaded once instead, which fetches what they need.
   */
  download?(context: EngineContext<Options, Fields>, options: DownloadOptions): Promise<unknown>;
  /** Optional: whether a model's files are on disk (for `talkies models`). */
  isDownloaded?(context: Pick<EngineContext<Options, Fields>, 'modelId' | 'entry' | 'paths'>): Promise<boolean>;
}

/** Types an engine definition and stamps the contract version it implements. */
export function defineEngine<Options = unknown, Fields = Record<string, unknown>>(
  definition: EngineDefinition<Options, Fields>,
): EngineDefinition<Options, Fields> {
  return { specificationVersion: 'v1', ...definition };
}
