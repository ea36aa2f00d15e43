/**
 * The models this server serves: the registry, one backend object per slug (cheap to
 * create; heavy work happens in load()), and the eviction pool that loads them.
 */
import { inject, injectable } from 'tsyringe';
import type { Logger } from 'pino';
import {
  batchingBackend,
  engineContext,
  EvictionPool,
  SpeechError,
  withTranscription,
  type AsrBackend,
  type Backend,
  type ModelEntry,
  type ModelRegistry,
  type ResolvedEngines,
  type TtsBackend,
} from '@talkies/core';
import type { ServerConfig } from './config.js';
import type { ServerMetrics } from './metrics.js';
import { ClockToken, ConfigToken, EnginesToken, LoggerToken, MetricsToken, RegistryToken } from './tokens.js';

export interface CatalogModel {
  slug: string;
  entry: ModelEntry;
  backend: Backend;
  maxConcurrency: number;
  /** Requests the pool admits at once: maxConcurrency, times the batch size for a batching engine. */
  maxRequests: number;
  /** Requests holding the model that have not handed it a piece yet (read by its request batcher). */
  onTheWay: { count: number };
}

/**
 * `backend` (leased for `model`) as one request sees it: counted in the model's
 * `onTheWay` from now until the request hands over its first piece or opens a streaming
 * session on the engine (whose audio never goes through a batch), or calls `done()`
 * (idempotent; call it when the request ends, in case it never did). A batch forming for
 * the model waits for such requests a little (core's RequestBatcher, `expected`).
 */
export function onTheWay<B extends AsrBackend>(model: CatalogModel, backend: B): { backend: B; done: () => void } {
  const counter = model.onTheWay;
  counter.count++;
  let counted = true;
  const done = () => {
    if (!counted) return;
    counted = false;
    counter.count--;
  };
  const announced = withTranscription(
    backend,
    (request) => {
      done();
      return backend.transcribe(request);
    },
    (requests) => {
      done();
      return backend.transcribeBatch!(requests);
    },
  );
  if (typeof backend.openStream !== 'function') return { backend: announced, done };
  const openStream: NonNullable<AsrBackend['openStream']> = (options) => {
    done();
    return backend.openStream!(options);
  };
  const streaming = new Proxy(announced, { get: (target, property) => (property === 'openStream' ? openStream : Reflect.get(target, property)) });
  return { backend: streaming, done };
}

@injectable()
export class ModelCatalog {
  readonly pool: EvictionPool;
  readonly #models = new Map<string, CatalogModel>();
  readonly #shutdown = new AbortController();

  constructor(
    @inject(ConfigToken) config: ServerConfig,
    @inject(RegistryToken) readonly registry: ModelRegistry,
    @inject(EnginesToken) engines: ResolvedEngines,
    @inject(LoggerToken) logger: Logger,
    @inject(ClockToken) now: () => number,
    @inject(MetricsToken) metrics: ServerMetrics,
  ) {
    for (const [slug, entry] of registry.entries()) {
      const engine = engines.bySlug.get(slug)!;
      const created = engine.createBackend(
        engineContext(registry, engines, slug, {
          dataDir: config.dataDir,
          logger: logger.child({ executor: entry.executor, modelId: slug }),
          signal: this.#shutdown.signal,
          now,
        }),
      );
      const instrumented = metrics.instrument(slug, created);
      const maxConcurrency = entry.max_concurrency ?? instrumented.defaultConcurrency ?? 1;
      // An engine that transcribes batches gets the requests that arrive together as one
      // batch: up to max_concurrency batches run at once, so the pool admits that many
      // batches' worth of requests instead of queueing all but max_concurrency of them.
      const batches = instrumented.modality === 'asr' && typeof instrumented.transcribeBatch === 'function' && config.batchMaxSize > 1;
      const arriving = { count: 0 };
      const backend = batches
        ? batchingBackend(instrumented as AsrBackend, {
            windowMs: config.batchWindowMs,
            lingerMs: config.batchLingerMs,
            expected: () => arriving.count,
            // The engine's own preference (it may depend on the model's size) caps the setting.
            maxBatchSize: () => Math.min(config.batchMaxSize, (instrumented as AsrBackend).capabilities.maxBatchSize ?? 1),
            maxConcurrentBatches: maxConcurrency,
            onBatch: (size) => metrics.batchStarted(slug, size),
          })
        : instrumented;
      const maxRequests = batches ? maxConcurrency * config.batchMaxSize : maxConcurrency;
      this.#models.set(slug, { slug, entry, backend, maxConcurrency, maxRequests, onTheWay: arriving });
    }
    this.pool = new EvictionPool(
      [...this.#models.values()].map(({ slug, backend, maxConcurrency, maxRequests }) => ({ slug, backend, maxConcurrency, maxRequests })),
      { maxLoaded: config.maxLoadedModels, now, logger, observer: metrics.poolObserver() },
    );
    metrics.watch(this.pool);
  }

  list(): CatalogModel[] {
    return [...this.#models.values()];
  }

  /** The model a slug or an alias names, or 404 listing the catalog. */
  get(name: string): CatalogModel {
    const model = this.#models.get(this.registry.resolve(name) ?? name);
    if (!model) {
      throw new SpeechError('MODEL_NOT_FOUND', `unknown model '${name}'; configured: ${this.registry.slugs.join(', ')}`, {
        model: name,
        param: 'model',
      });
    }
    return model;
  }

  /** An ASR model, or 400 pointing at the speech route. */
  asr(slug: string): CatalogModel & { backend: AsrBackend } {
    const model = this.get(slug);
    if (model.backend.modality !== 'asr') {
      throw new SpeechError('UNSUPPORTED_CAPABILITY', `model '${slug}' is not an ASR model — try /v1/audio/speech`, {
        model: slug,
        param: 'model',
      });
    }
    return model as CatalogModel & { backend: AsrBackend };
  }

  /** A TTS model, or 400 pointing at the transcription route. */
  tts(slug: string): CatalogModel & { backend: TtsBackend } {
    const model = this.get(slug);
    if (model.backend.modality !== 'tts') {
      throw new SpeechError(
        'UNSUPPORTED_CAPABILITY',
        `model '${slug}' is not a TTS model — try /v1/audio/transcriptions`,
        { model: slug, param: 'model' },
      );
    }
    return model as CatalogModel & { backend: TtsBackend };
  }

  /** Stop engines' background work, wait for requests, dispose every model. */
  async close(): Promise<void> {
    await this.pool.close();
    this.#shutdown.abort();
  }
}
