/**
 * Batching across requests: pieces of audio that different requests send to the same
 * batch-capable ASR backend ({@link AsrBackend.transcribeBatch}) within a short window
 * are decoded together, in one call, up to a batch size limit.
 *
 * - The first piece to arrive opens a window of `windowMs`; pieces arriving meanwhile join
 *   it. The batch starts when the window closes, or as soon as it is full.
 * - At most `maxConcurrentBatches` batches run at once (the model's `max_concurrency`);
 *   pieces arriving while none can start wait in line, oldest first, and go in the next
 *   batch that starts (their window has passed by then, so it starts as soon as a batch ends).
 * - Clients come back: when a batch that served several requests ends, their clients
 *   usually send their next requests at once, but those reach the model only after the
 *   upload and decoding. So the next batch waits until the line holds the requests that
 *   were already waiting when the last batch ended plus as many as it served (pieces of one
 *   request count once; at most the batch size), up to `lingerMs` and at most a quarter of
 *   the time the last batch ran, and starts as soon as they are there. Without that, a
 *   piece that waited in line would start alone, or with only the first clients back, its
 *   batch would end apart from the others, and a closed loop of clients would stay split
 *   into smaller batches (8 clients split 5 + 3 stayed split when the wait counted only the
 *   5 coming back: the 3 waiting made up the number before the last 3 returned). A single
 *   client never waits (the last batch served one request).
 * - Requests on their way: the caller may say how many requests hold the model but have
 *   not handed over a piece yet (`expected`: a burst of uploads is decoded one after the
 *   other, milliseconds apart, which a window of a few milliseconds would split). A batch
 *   that is not full waits for them too, up to `lingerMs` and {@link EXPECTED_WAIT_MS}.
 * - Each piece's result goes back to its own caller. A piece whose signal aborts while it
 *   waits leaves the line at once (rejecting with the signal's reason); once its batch has
 *   started, the backend drops it alone (the contract of `transcribeBatch`), the others go on.
 *
 * Engine-agnostic: it only needs `transcribeBatch`. Engines without it are not wrapped.
 */
import type { AsrBackend, TranscribeRequest } from './backend.js';
import type { TranscriptionResult } from './transcription-result.js';
import { SpeechError } from './speech-error.js';

export interface RequestBatchingOptions {
  /** How long the first piece of a batch waits for others, in milliseconds (0: those handed over in the same turn of the event loop). */
  windowMs: number;
  /**
   * Most pieces in one batch (at least 1), or a function read each time a batch forms (an
   * engine's `capabilities.maxBatchSize` may change when it loads).
   */
  maxBatchSize: number | (() => number);
  /** Batches running at once (at least 1): the model's `max_concurrency`. */
  maxConcurrentBatches: number;
  /**
   * Longest wait, in milliseconds, for the requests of the batch that just ended to come
   * back (see above; the wait is also at most a quarter of that batch's running time).
   * 0 or absent: no wait.
   */
  lingerMs?: number;
  /**
   * Requests on their way here that have not handed over a piece yet (the server counts
   * those holding the model while their upload is decoded and cut). A batch that is not full
   * waits for them, as for returning clients, up to `lingerMs` and at most
   * {@link EXPECTED_WAIT_MS} after its oldest piece arrived; each arrival re-checks. Absent:
   * none are expected.
   */
  expected?: () => number;
  /** Told the size of each batch as it starts (metrics, tests). Must not throw. */
  onBatch?: (size: number) => void;
}

interface Waiting {
  request: TranscribeRequest;
  arrived: number;
  resolve: (result: TranscriptionResult) => void;
  reject: (reason: unknown) => void;
  onAbort: () => void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new SpeechError('ABORTED', 'request aborted');
}

/** A batch waits for returning clients at most this share of the time the last batch ran. */
const LINGER_SHARE = 0.25;

/**
 * Longest wait for expected requests ({@link RequestBatchingOptions.expected}), from the
 * oldest piece's arrival: enough for a burst of uploads to be decoded and cut (each costs
 * the event loop some milliseconds before its first piece is here), short beside the batch
 * they would otherwise miss.
 */
export const EXPECTED_WAIT_MS = 500;

/** Requests among `entries` (pieces of one request share its signal). */
function requestCount(entries: readonly Waiting[]): number {
  return new Set(entries.map((entry) => entry.request.signal)).size;
}

function atLeastOne(value: number): number {
  return Number.isFinite(value) ? Math.max(1, Math.floor(value)) : 1;
}

/** The line of pieces waiting for one backend, and the batches it starts. */
export class RequestBatcher {
  readonly windowMs: number;
  readonly lingerMs: number;
  readonly maxConcurrentBatches: number;
  readonly #maxBatchSize: number | (() => number);
  readonly #backend: AsrBackend;
  readonly #onBatch?: (size: number) => void;
  readonly #expected?: () => number;
  readonly #line: Waiting[] = [];
  #running = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * After a batch of several requests ended: how many requests the next batch waits for
   * (those it served, coming back, and those already waiting then), and until when.
   */
  #returning: { requests: number; until: number } | undefined;

  constructor(backend: AsrBackend, options: RequestBatchingOptions) {
    if (typeof backend.transcribeBatch !== 'function') {
      throw new SpeechError('INTERNAL', 'RequestBatcher needs a backend with transcribeBatch');
    }
    this.#backend = backend;
    this.windowMs = Math.max(0, Number.isFinite(options.windowMs) ? options.windowMs : 0);
    this.lingerMs = Math.max(0, Number.isFinite(options.lingerMs) ? options.lingerMs! : 0);
    this.#maxBatchSize = options.maxBatchSize;
    this.maxConcurrentBatches = atLeastOne(options.maxConcurrentBatches);
    this.#onBatch = options.onBatch;
    this.#expected = options.expected;
  }

  /** Most pieces in the next batch. */
  get maxBatchSize(): number {
    return atLeastOne(typeof this.#maxBatchSize === 'function' ? this.#maxBatchSize() : this.#maxBatchSize);
  }

  /** Pieces waiting for a batch to start. */
  get waiting(): number {
    return this.#line.length;
  }

  /** Batches running now. */
  get running(): number {
    return this.#running;
  }

  /** Transcribe one piece in the next batch; settles as `backend.transcribe(request)` would. */
  transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    if (request.signal.aborted) return Promise.reject(abortReason(request.signal));
    return new Promise<TranscriptionResult>((resolve, reject) => {
      const entry: Waiting = {
        request,
        arrived: performance.now(),
        resolve,
        reject,
        onAbort: () => {
          const index = this.#line.indexOf(entry);
          if (index === -1) return;
          this.#line.splice(index, 1);
          if (this.#line.length === 0) this.#clearTimer();
          reject(abortReason(request.signal));
        },
      };
      request.signal.addEventListener('abort', entry.onAbort, { once: true });
      this.#line.push(entry);
      this.#schedule();
    });
  }

  /** Several pieces, each joining the line on its own (they may land in different batches). */
  transcribeBatch(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>> {
    return requests.map((request) => this.transcribe(request));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Start what can start now; otherwise arm the timer for when the next batch may start:
   * the oldest piece's window, or later while the last batch's requests are expected back.
   */
  #schedule(): void {
    while (this.#running < this.maxConcurrentBatches && this.#line.length >= this.maxBatchSize) this.#start();
    this.#clearTimer();
    if (this.#running >= this.maxConcurrentBatches || this.#line.length === 0) return;
    const now = performance.now();
    // Even a window that has passed (or is 0) waits for the next turn of the event loop, so
    // that pieces handed over in the same turn share a batch.
    let wait = Math.max(0, this.windowMs - (now - this.#line[0]!.arrived));
    const returning = this.#returning;
    const waitingRequests = requestCount(this.#line);
    if (returning && now < returning.until && waitingRequests < Math.min(returning.requests, this.maxBatchSize)) {
      wait = Math.max(wait, returning.until - now);
    }
    if (this.lingerMs > 0 && waitingRequests < this.maxBatchSize && (this.#expected?.() ?? 0) > 0) {
      wait = Math.max(wait, this.#line[0]!.arrived + Math.min(this.lingerMs, EXPECTED_WAIT_MS) - now);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running < this.maxConcurrentBatches && this.#line.length > 0) this.#start();
      this.#schedule();
    }, wait);
  }

  #start(): void {
    this.#clearTimer();
    const batch = this.#line.splice(0, this.maxBatchSize);
    for (const entry of batch) entry.request.signal.removeEventListener('abort', entry.onAbort);
    this.#returning = undefined;
    const started = performance.now();
    this.#running += 1;
    this.#onBatch?.(batch.length);
    let results: Array<Promise<TranscriptionResult>>;
    try {
      results = this.#backend.transcribeBatch!(batch.map((entry) => entry.request));
      if (!Array.isArray(results) || results.length !== batch.length) {
        throw new SpeechError('INTERNAL', `transcribeBatch answered ${Array.isArray(results) ? results.length : 'no'} results for ${batch.length} requests`);
      }
    } catch (error) {
      results = batch.map(() => Promise.reject(error));
    }
    batch.forEach((entry, index) => {
      Promise.resolve(results[index]).then(entry.resolve, entry.reject);
    });
    void Promise.allSettled(results).then(() => {
      this.#running -= 1;
      const requests = requestCount(batch);
      const linger = Math.min(this.lingerMs, (performance.now() - started) * LINGER_SHARE);
      if (requests > 1 && linger > 0) this.#returning = { requests: requests + requestCount(this.#line), until: performance.now() + linger };
      this.#schedule();
    });
  }
}

/**
 * The backend with its `transcribe` and `transcribeBatch` going through a
 * {@link RequestBatcher}; everything else (load, dispose, capabilities, openStream, …) is
 * the backend's own. The backend must implement `transcribeBatch`.
 */
export function batchingBackend<B extends AsrBackend>(backend: B, options: RequestBatchingOptions): B {
  const batcher = new RequestBatcher(backend, options);
  return withTranscription(
    backend,
    (request) => batcher.transcribe(request),
    (requests) => batcher.transcribeBatch(requests),
  );
}

/**
 * `backend` with `transcribe` and `transcribeBatch` replaced (the latter only where the
 * backend has one); every other member is the backend's own, methods bound to it.
 */
export function withTranscription<B extends AsrBackend>(
  backend: B,
  transcribe: AsrBackend['transcribe'],
  transcribeBatch: NonNullable<AsrBackend['transcribeBatch']>,
): B {
  return new Proxy(backend, {
    get(target, property) {
      if (property === 'transcribe') return transcribe;
      if (property === 'transcribeBatch') return typeof target.transcribeBatch === 'function' ? transcribeBatch : undefined;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
