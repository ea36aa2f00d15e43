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
export interface EngineContext<Options = unknown> {
  /** The model slug from models.json. */
  modelId: string;
  /** The validated models.json entry. */
  entry: ModelEntry;
  /** `engineOptions` of the entry, parsed with the engine's `optionsSchema`. */
  options: Options;
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

export interface EngineDefinition<Options = unknown> {
  /** The package name, for error messages. */
  name: string;
  /** The `executor` values of models.json this engine serves. */
  executors: readonly string[];
  /** The semver range of `@talkies/core` this engine was built against. */
  coreRange: string;
  /** Parses the entry's `engineOptions`; omitted means the engine takes none. */
  optionsSchema?: z.ZodType<Options>;
  /** Build a backend for one model. Must be cheap: heavy work belongs in `load()`. */
  createBackend(context: EngineContext<Options>): Backend;
  /**
   * Optional: fetch a model's files into `paths.modelDir` without loading it (`talkies
   * pull`). Engines without it are loaded once instead, which fetches what they need.
   */
  download?(context: EngineContext<Options>, options: DownloadOptions): Promise<unknown>;
  /** Optional: whether a model's files are on disk (for `talkies models`). */
  isDownloaded?(context: Pick<EngineContext<Options>, 'modelId' | 'entry' | 'paths'>): Promise<boolean>;
}

/** Identity function that types an engine definition. */
export function defineEngine<Options = unknown>(definition: EngineDefinition<Options>): EngineDefinition<Options> {
  return definition;
}
