/**
 * Prometheus metrics for `GET /metrics`, on a registry of their own per server (tests run
 * several servers in one process).
 *
 * Label values are bounded: `route` is the router's pattern (never the request path),
 * `model` is a configured slug or `other`, `status` is the HTTP status code, and nothing
 * carries a file name, a URL or any other string a client made up.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context, Next } from 'koa';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type {
  AsrBackend,
  Backend,
  EvictionPool,
  PoolObserver,
  SpeechAudio,
  SynthesizeRequest,
  TranscribeRequest,
  TtsBackend,
  UnloadReason,
} from '@talkies/core';

/** The `model` label for a request that named no model. */
const NO_MODEL = '';
/** The `model` label for a request that named a model this server does not serve. */
const OTHER_MODEL = 'other';
/** The `route` label of a request no route matched (404s, probes of random paths). */
const UNMATCHED_ROUTE = 'unmatched';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const REAL_TIME_FACTOR_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5];
const LOAD_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #slugs: ReadonlySet<string>;
  readonly #requests: Counter<'method' | 'route' | 'model' | 'status'>;
  readonly #latency: Histogram<'method' | 'route' | 'model' | 'status'>;
  readonly #audioSeconds: Counter<'model' | 'task'>;
  readonly #realTimeFactor: Histogram<'model' | 'task'>;
  readonly #batchPieces: Histogram<'model'>;
  readonly #loads: Counter<'model' | 'outcome'>;
  readonly #unloads: Counter<'model' | 'reason'>;
  readonly #loadSeconds: Histogram<'model'>;
  readonly #downloadBytes: Counter<'kind'>;
  /** Size of each model folder when its load started, to count what the load downloaded. */
  readonly #sizeAtLoad = new Map<string, Promise<number>>();
  #pool?: EvictionPool;

  /** @param slugs the configured model slugs: the only values the `model` label takes besides `other` and ''. */
  constructor(
    slugs: Iterable<string>,
    private readonly modelDirectory: (slug: string) => string,
    /** Maps a model alias to its slug, so an alias counts under its model. */
    private readonly resolve: (name: string) => string | undefined = () => undefined,
  ) {
    this.#slugs = new Set(slugs);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#requests = new Counter({
      name: 'talkies_http_requests_total',
      help: 'HTTP requests answered, by route pattern, model, and status code.',
      labelNames: ['method', 'route', 'model', 'status'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'talkies_http_request_duration_seconds',
      help: 'Time from the request arriving to the response being handed to Node (a streamed answer: to its end).',
      labelNames: ['method', 'route', 'model', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#audioSeconds = new Counter({
      name: 'talkies_audio_seconds_total',
      help: 'Seconds of audio processed: heard by transcription and translation, produced by speech.',
      labelNames: ['model', 'task'],
      registers,
    });
    this.#realTimeFactor = new Histogram({
      name: 'talkies_real_time_factor',
      help: 'Compute time divided by audio duration, per engine call (below 1 is faster than real time).',
      labelNames: ['model', 'task'],
      buckets: REAL_TIME_FACTOR_BUCKETS,
      registers,
    });
    this.#batchPieces = new Histogram({
      name: 'talkies_batch_pieces',
      help: 'Pieces of audio decoded together in one batch across requests (engines that batch).',
      labelNames: ['model'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.#loads = new Counter({
      name: 'talkies_model_loads_total',
      help: 'Model loads, by outcome (success or failure).',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.#unloads = new Counter({
      name: 'talkies_model_unloads_total',
      help: 'Models taken out of memory, by reason: evicted (room for another), idle (TTL), requested (API or shutdown).',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.#loadSeconds = new Histogram({
      name: 'talkies_model_load_duration_seconds',
      help: 'Time to load a model, downloads on first use included.',
      labelNames: ['model'],
      buckets: LOAD_BUCKETS,
      registers,
    });
    this.#downloadBytes = new Counter({
      name: 'talkies_download_bytes_total',
      help: 'Bytes downloaded: url (file_path URLs) and model (model files fetched while loading).',
      labelNames: ['kind'],
      registers,
    });
    this.#downloadBytes.inc({ kind: 'url' }, 0);
    this.#downloadBytes.inc({ kind: 'model' }, 0);
    const pool = () => this.#pool;
    new Gauge({
      name: 'talkies_queue_depth',
      help: 'Requests waiting for their model to load or for a free request slot.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const usage of pool()?.usage() ?? []) this.set({ model: usage.slug }, usage.waiting);
      },
    });
    new Gauge({
      name: 'talkies_active_requests',
      help: 'Requests holding a model right now.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const usage of pool()?.usage() ?? []) this.set({ model: usage.slug }, usage.active);
      },
    });
    new Gauge({
      name: 'talkies_model_loaded',
      help: '1 while the model is in memory.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const usage of pool()?.usage() ?? []) this.set({ model: usage.slug }, usage.loaded ? 1 : 0);
      },
    });
  }

  /** The pool whose queues and residents the gauges read. */
  watch(pool: EvictionPool): void {
    this.#pool = pool;
  }

  /** A configured slug, `other`, or '' for none: never an arbitrary client string. */
  modelLabel(value: unknown): string {
    if (typeof value !== 'string' || value.trim() === '') return NO_MODEL;
    const name = value.trim();
    const slug = this.#slugs.has(name) ? name : this.resolve(name);
    return slug !== undefined && this.#slugs.has(slug) ? slug : OTHER_MODEL;
  }

  /**
   * Koa middleware counting and timing every request. Install it outside the error
   * middleware, so the status it sees is the one sent.
   */
  middleware() {
    return async (ctx: Context, next: Next): Promise<void> => {
      const started = performance.now();
      let failed = false;
      try {
        await next();
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        const record = () => {
          const route = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
          const body = ctx.request.body as { model?: unknown } | undefined;
          const labels = {
            method: ctx.method,
            route: typeof route === 'string' ? route : UNMATCHED_ROUTE,
            model: this.modelLabel(body?.model),
            status: String(failed ? 500 : ctx.res.statusCode || ctx.status),
          };
          this.#requests.inc(labels);
          this.#latency.observe(labels, (performance.now() - started) / 1000);
        };
        // A response the route writes itself (streamed speech) is counted when it ends.
        if (!ctx.respond && !ctx.res.writableFinished && !ctx.res.destroyed) ctx.res.once('close', record);
        else record();
      }
    };
  }

  /** `GET /metrics` in Prometheus' text format; anything else passes on. */
  route() {
    return async (ctx: Context, next: Next): Promise<void> => {
      if (ctx.path !== '/metrics' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
      // Marks the route for the request counter like the router does.
      (ctx as Context & { _matchedRoute?: string })._matchedRoute = '/metrics';
      ctx.set('Content-Type', this.registry.contentType);
      ctx.body = await this.registry.metrics();
    };
  }

  /** Metrics' view of the pool: loads, failed loads, unloads, and model download bytes. */
  poolObserver(): PoolObserver {
    return {
      loadStarted: (slug) => {
        this.#sizeAtLoad.set(slug, folderSize(this.modelDirectory(slug)));
      },
      loaded: (slug, milliseconds) => {
        this.#loads.inc({ model: slug, outcome: 'success' });
        this.#loadSeconds.observe({ model: slug }, milliseconds / 1000);
        this.#countModelDownload(slug);
      },
      loadFailed: (slug) => {
        this.#loads.inc({ model: slug, outcome: 'failure' });
        this.#countModelDownload(slug);
      },
      unloaded: (slug: string, reason: UnloadReason) => {
        this.#unloads.inc({ model: slug, reason });
      },
    };
  }

  /** A batch across requests started with `size` pieces. */
  batchStarted(slug: string, size: number): void {
    this.#batchPieces.observe({ model: slug }, size);
  }

  /** Bytes a URL download received. */
  downloaded(bytes: number): void {
    this.#downloadBytes.inc({ kind: 'url' }, bytes);
  }

  #countModelDownload(slug: string): void {
    const before = this.#sizeAtLoad.get(slug);
    this.#sizeAtLoad.delete(slug);
    if (!before) return;
    void Promise.all([before, folderSize(this.modelDirectory(slug))]).then(([start, end]) => {
      if (end > start) this.#downloadBytes.inc({ kind: 'model' }, end - start);
    });
  }

  /**
   * The backend with its engine calls measured: seconds of audio heard or produced and
   * the real-time factor, per call. Everything else passes through untouched.
   */
  instrument<B extends Backend>(slug: string, backend: B): B {
    if (backend.modality === 'asr') {
      const asr = backend as AsrBackend;
      const transcribe = asr.transcribe.bind(asr);
      const transcribeBatch = asr.transcribeBatch?.bind(asr);
      // A piece's audio may go to the engine's thread with it (core's chunker hands its
      // pieces over, and the worker client transfers their buffers: the arrays read as empty
      // afterwards), so its length is taken when the call is made.
      const seconds = (request: TranscribeRequest) => request.audio.length / request.sampleRate;
      return new Proxy(asr, {
        get: (target, property) => {
          if (property === 'transcribeBatch' && transcribeBatch) {
            // Each piece counts its own audio and the time until it settled.
            return (requests: readonly TranscribeRequest[]) => {
              const started = performance.now();
              const durations = requests.map(seconds);
              const results = transcribeBatch(requests);
              results.forEach((result, index) => {
                result.then(
                  () => this.#audio(slug, requests[index]!.task, durations[index]!, performance.now() - started),
                  () => undefined,
                );
              });
              return results;
            };
          }
          if (property !== 'transcribe') return passThrough(target, property);
          return async (request: TranscribeRequest) => {
            const started = performance.now();
            const duration = seconds(request);
            const result = await transcribe(request);
            this.#audio(slug, request.task, duration, performance.now() - started);
            return result;
          };
        },
      }) as B;
    }
    const tts = backend as TtsBackend;
    const synthesize = tts.synthesize.bind(tts);
    const synthesizeStream = tts.synthesizeStream?.bind(tts);
    const measuredStream = synthesizeStream && this.#measuredStream(slug, synthesizeStream);
    return new Proxy(tts, {
      get: (target, property) => {
        if (property === 'synthesize') {
          return async (request: SynthesizeRequest) => {
            const started = performance.now();
            const result = await synthesize(request);
            this.#audio(slug, 'speech', result.samples.length / result.sampleRate, performance.now() - started);
            return result;
          };
        }
        if (property === 'synthesizeStream' && measuredStream) return measuredStream;
        return passThrough(target, property);
      },
    }) as B;
  }

  /** Times only the engine's own work: the clock stops while the consumer holds a block. */
  #measuredStream(slug: string, stream: (request: SynthesizeRequest) => AsyncIterable<SpeechAudio>) {
    const audio = (seconds: number, milliseconds: number) => this.#audio(slug, 'speech', seconds, milliseconds);
    return async function* measured(request: SynthesizeRequest): AsyncGenerator<SpeechAudio, void, undefined> {
      const iterator = stream(request)[Symbol.asyncIterator]();
      try {
        for (;;) {
          const started = performance.now();
          const next = await iterator.next();
          if (next.done) return;
          audio(next.value.samples.length / next.value.sampleRate, performance.now() - started);
          yield next.value;
        }
      } finally {
        await iterator.return?.();
      }
    };
  }

  #audio(slug: string, task: string, seconds: number, milliseconds: number): void {
    if (!(seconds > 0)) return;
    this.#audioSeconds.inc({ model: slug, task }, seconds);
    this.#realTimeFactor.observe({ model: slug, task }, milliseconds / 1000 / seconds);
  }
}

/**
 * A property of the real backend. Methods are bound to it and getters run on it: engines
 * keep private fields, which a proxy as `this` cannot reach.
 */
function passThrough(target: object, property: string | symbol): unknown {
  const value: unknown = Reflect.get(target, property);
  return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
}

/** Total size of the regular files under `directory` (0 when it does not exist). */
async function folderSize(directory: string): Promise<number> {
  let total = 0;
  const entries = await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const info = await lstat(join(entry.parentPath, entry.name)).catch(() => undefined);
    total += info?.size ?? 0;
  }
  return total;
}
