/**
 * The eviction pool: the only caller of a backend's load() and dispose().
 *
 * - At most `maxLoaded` models are resident (talkies' default is one). Making room
 *   evicts the least recently used idle model.
 * - A model serving a request is never unloaded: the pool stops admitting new requests
 *   to it ("draining") and unloads it once its last request finishes.
 * - Each model serves at most `maxConcurrency` requests at once; extra requests queue.
 * - Requests whose model is not loaded wait in one line, oldest first; only the oldest
 *   evicts or loads, so a busy model is drained for it rather than starving it.
 *
 * All state changes happen synchronously between awaits, so the single-threaded event
 * loop is the lock; waiters re-check the state whenever anything changes.
 */
import type { Backend } from './backend.js';
import type { EngineLogger } from './define-engine.js';
import { SpeechError } from './speech-error.js';

type SlotState = 'unloaded' | 'loading' | 'loaded' | 'unloading';

interface Slot {
  slug: string;
  backend: Backend;
  maxConcurrency: number;
  /** Requests admitted at once: maxConcurrency, or more for a model whose requests are batched. */
  maxRequests: number;
  state: SlotState;
  active: number;
  /** No new requests are admitted: someone is waiting to unload this model. */
  draining: number;
  lastUsed: number | null;
  loadedAt: number;
  /** Requests inside acquire() that hold no lease yet (queued for room or for a slot). */
  waiting: number;
  /**
   * Requests waiting for a free request slot of this loaded model, oldest first: a change
   * wakes only as many as could now be admitted, not every one of them.
   */
  slotWaiters: Array<() => void>;
  transition?: Promise<void>;
}

/** One request waiting for room to load its (unloaded) model. */
interface RoomTicket {
  slot: Slot;
}

/** A count of at least 1; anything that is not a number (NaN, undefined) counts as 1. */
function atLeastOne(value: number | undefined): number {
  return typeof value === 'number' && !Number.isNaN(value) ? Math.max(1, Math.floor(value)) : 1;
}

export interface EvictionPoolOptions {
  /** Models resident at once (`TALKIES_MAX_LOADED_MODELS`, default 1). */
  maxLoaded?: number;
  /** Monotonic milliseconds; injected for tests. */
  now?: () => number;
  logger?: EngineLogger;
  /** Told about loads and unloads (the server's metrics). Must not throw. */
  observer?: PoolObserver;
}

/** Why a model left memory. */
export type UnloadReason = 'evicted' | 'idle' | 'requested';

/** Hooks for metrics: called synchronously as the pool changes state. */
export interface PoolObserver {
  loadStarted?(slug: string): void;
  loaded?(slug: string, milliseconds: number): void;
  loadFailed?(slug: string, milliseconds: number): void;
  unloaded?(slug: string, reason: UnloadReason): void;
}

/** A model's request counts, loaded or not (for metrics). */
export interface ModelUsage {
  slug: string;
  loaded: boolean;
  active: number;
  /** Requests waiting for the model to load or for a free request slot. */
  waiting: number;
}

export interface PoolModel {
  slug: string;
  backend: Backend;
  /** Requests served at once; more wait in line. */
  maxConcurrency: number;
  /**
   * Requests admitted at once, when more than `maxConcurrency` (default): a model whose
   * requests are batched (`RequestBatcher`) admits up to `maxConcurrency` batches'
   * worth, and its batcher runs at most `maxConcurrency` batches; the rest wait in line here.
   */
  maxRequests?: number;
}

/** A claim on a loaded model; release it exactly once when the request is done. */
/** A model of the pool with its backend's type: what `acquire` and `use` accept besides a slug. */
export interface PoolModelHandle<B extends Backend> {
  readonly slug: string;
  readonly backend: B;
}

export interface Lease<B extends Backend = Backend> {
  readonly slug: string;
  readonly backend: B;
  release(): void;
}

/** One row of `GET /api/ps`. */
export interface LoadedModelStatus {
  id: string;
  loaded: true;
  /** Seconds since the last request finished; null if never used since loading. */
  idle_seconds: number | null;
  active_requests: number;
  max_concurrency: number;
}

export class EvictionPool {
  readonly maxLoaded: number;
  readonly #now: () => number;
  readonly #logger?: EngineLogger;
  readonly #observer?: PoolObserver;
  readonly #slots = new Map<string, Slot>();
  /** Requests waiting for room, oldest first; only the head may evict or load. */
  readonly #roomQueue: RoomTicket[] = [];
  #changed!: Promise<void>;
  #notify!: () => void;
  #slotWakeScheduled = false;
  #closed = false;

  constructor(models: Iterable<PoolModel>, options: EvictionPoolOptions = {}) {
    this.maxLoaded = atLeastOne(options.maxLoaded);
    this.#now = options.now ?? (() => performance.now());
    this.#logger = options.logger;
    this.#observer = options.observer;
    for (const model of models) {
      this.#slots.set(model.slug, {
        slug: model.slug,
        backend: model.backend,
        maxConcurrency: atLeastOne(model.maxConcurrency),
        maxRequests: Math.max(atLeastOne(model.maxConcurrency), model.maxRequests === undefined ? 0 : atLeastOne(model.maxRequests)),
        state: 'unloaded',
        active: 0,
        draining: 0,
        lastUsed: null,
        loadedAt: 0,
        waiting: 0,
        slotWaiters: [],
      });
    }
    this.#resetSignal();
  }

  #resetSignal(): void {
    this.#changed = new Promise((resolve) => {
      this.#notify = resolve;
    });
  }

  #emitChange(): void {
    const notify = this.#notify;
    this.#resetSignal();
    notify();
    this.#scheduleSlotWake();
  }

  /**
   * Wake slot waiters once the code that made the change has run to its end (a microtask
   * later), so they are judged by the state it left, as the other waiters see it when
   * they wake: an eviction stops draining its victim and starts unloading it in one step.
   */
  #scheduleSlotWake(): void {
    if (this.#slotWakeScheduled) return;
    this.#slotWakeScheduled = true;
    queueMicrotask(() => {
      this.#slotWakeScheduled = false;
      for (const slot of this.#slots.values()) if (slot.slotWaiters.length > 0) this.#wakeSlotWaiters(slot);
    });
  }

  /**
   * Wake the requests waiting for a request slot of `slot` that could be admitted now:
   * as many as there are free slots, or all of them when the model is no longer simply
   * loaded (unloading, unloaded) or the pool closes, so each re-checks and takes its
   * other path. Waking all of them on every release cost each queued request an abort
   * listener and a promise per release of any request (16 clients on 4 slots: 12 wake-ups
   * per release, where one is admitted).
   */
  #wakeSlotWaiters(slot: Slot): void {
    const waiters = slot.slotWaiters;
    let room =
      this.#closed || slot.state !== 'loaded' ? waiters.length : slot.draining > 0 ? 0 : slot.maxRequests - slot.active;
    while (room > 0 && waiters.length > 0) {
      waiters.shift()!();
      room -= 1;
    }
  }

  /**
   * Wait until {@link #wakeSlotWaiters} wakes this request, or `signal` aborts. A request
   * that was woken but found the slot taken again (`first`: false) waits at the head of
   * the line, keeping its place.
   */
  #waitForSlot(slot: Slot, signal: AbortSignal | undefined, first: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = slot.slotWaiters.indexOf(wake);
        if (index >= 0) slot.slotWaiters.splice(index, 1);
        reject(signal!.reason ?? new SpeechError('ABORTED', 'request aborted'));
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (first) slot.slotWaiters.push(wake);
      else slot.slotWaiters.unshift(wake);
    });
  }

  #slot(slug: string): Slot {
    const slot = this.#slots.get(slug);
    if (!slot) {
      throw new SpeechError('MODEL_NOT_FOUND', `unknown model '${slug}'; configured: ${[...this.#slots.keys()].join(', ')}`, {
        model: slug,
        param: 'model',
      });
    }
    return slot;
  }

  async #waitForChange(signal?: AbortSignal): Promise<void> {
    return this.#untilAborted(this.#changed, signal);
  }

  /** Waits for `promise`, rejecting early with the signal's reason if it aborts first. */
  async #untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return promise;
    signal.throwIfAborted();
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason ?? new SpeechError('ABORTED', 'request aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([promise, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The backend object of a slug (loaded or not), for metadata such as modality. */
  backend(slug: string): Backend {
    return this.#slot(slug).backend;
  }

  #resident(): Slot[] {
    return [...this.#slots.values()].filter((slot) => slot.state !== 'unloaded');
  }

  /**
   * Load a model. On success one request slot is already taken for the caller (in the
   * same step that marks the model loaded), so no other waiter can take the last slot or
   * evict the model before the caller's continuation runs.
   */
  #startLoad(slot: Slot): Promise<void> {
    slot.state = 'loading';
    const transition = (async () => {
      const started = this.#now();
      this.#observer?.loadStarted?.(slot.slug);
      try {
        await slot.backend.load();
      } catch (cause) {
        this.#observer?.loadFailed?.(slot.slug, this.#now() - started);
        slot.state = 'unloaded';
        slot.transition = undefined;
        this.#emitChange();
        if (SpeechError.is(cause)) throw cause;
        throw new SpeechError(
          'MODEL_LOAD_FAILED',
          `model '${slot.slug}' failed to load: ${(cause as Error)?.message ?? cause}; check the server log and the model's files`,
          { model: slot.slug, cause },
        );
      }
      slot.state = 'loaded';
      slot.loadedAt = this.#now();
      slot.lastUsed = null;
      slot.active += 1;
      slot.transition = undefined;
      this.#logger?.info({ model: slot.slug, ms: Math.round(slot.loadedAt - started) }, 'model loaded');
      this.#observer?.loaded?.(slot.slug, slot.loadedAt - started);
      this.#emitChange();
    })();
    slot.transition = transition;
    return transition;
  }

  #startUnload(slot: Slot, kind: UnloadReason, reason: string): Promise<void> {
    slot.state = 'unloading';
    const transition = (async () => {
      try {
        await slot.backend.dispose();
      } catch (error) {
        this.#logger?.error({ model: slot.slug, err: error }, 'dispose failed; treating the model as unloaded');
      }
      slot.state = 'unloaded';
      slot.transition = undefined;
      slot.lastUsed = null;
      this.#logger?.info({ model: slot.slug, reason }, 'model unloaded');
      this.#observer?.unloaded?.(slot.slug, kind);
      this.#emitChange();
    })();
    slot.transition = transition;
    return transition;
  }

  /** @param reserved the request slot was already taken by {@link #startLoad}. */
  #lease<B extends Backend>(slot: Slot, reserved = false): Lease<B> {
    if (!reserved) slot.active += 1;
    let released = false;
    return {
      slug: slot.slug,
      // acquire() checked that a typed handle holds this very backend.
      backend: slot.backend as B,
      release: () => {
        if (released) return;
        released = true;
        slot.active -= 1;
        slot.lastUsed = this.#now();
        this.#emitChange();
      },
    };
  }

  /**
   * Wait until the model is loaded and has a free request slot, loading it (and evicting
   * others) as needed. Rejects if `signal` aborts while waiting. Given the model itself
   * (`{ slug, backend }`, as a catalog hands out a typed TTS or ASR model), the lease's
   * backend has that model's type.
   */
  async acquire<B extends Backend = Backend>(model: string | PoolModelHandle<B>, signal?: AbortSignal): Promise<Lease<B>> {
    const slug = typeof model === 'string' ? model : model.slug;
    const slot = this.#slot(slug);
    if (typeof model !== 'string' && model.backend !== slot.backend) {
      throw new SpeechError('INTERNAL', `the backend handed in for model '${slug}' is not the one the pool serves`);
    }
    const ticket: RoomTicket = { slot };
    slot.waiting += 1;
    let queued = false;
    let waitedForSlot = false;
    let drainedVictim: Slot | undefined;
    const stopDraining = () => {
      if (drainedVictim) {
        drainedVictim.draining -= 1;
        drainedVictim = undefined;
        this.#emitChange();
      }
    };
    const leaveQueue = () => {
      if (!queued) return;
      queued = false;
      this.#roomQueue.splice(this.#roomQueue.indexOf(ticket), 1);
      // The next request in line may act now.
      this.#emitChange();
    };
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (this.#closed) throw new SpeechError('SHUTTING_DOWN', 'the server is shutting down; retry against another instance');
        if (slot.state !== 'unloaded') {
          leaveQueue();
          stopDraining();
          if (slot.state === 'loaded') {
            if (slot.draining === 0 && slot.active < slot.maxRequests) return this.#lease(slot);
            await this.#waitForSlot(slot, signal, !waitedForSlot);
            waitedForSlot = true;
          } else {
            await Promise.race([slot.transition!.catch(() => undefined), this.#waitForChange(signal)]);
          }
          continue;
        }
        // Unloaded: wait in line for room. Only the oldest request evicts or loads, so
        // requests that arrive later (even for the model being drained) queue behind it.
        if (!queued) {
          this.#roomQueue.push(ticket);
          queued = true;
        }
        if (this.#roomQueue[0] !== ticket) {
          await this.#waitForChange(signal);
          continue;
        }
        // A victim that got unloaded (or is unloading) meanwhile no longer needs holding.
        if (drainedVictim && drainedVictim.state !== 'loaded') stopDraining();
        const resident = this.#resident();
        if (resident.length < this.maxLoaded) {
          leaveQueue();
          stopDraining();
          const loading = this.#startLoad(slot);
          try {
            await this.#untilAborted(loading, signal);
          } catch (error) {
            // Aborted while loading: the load goes on; give back the slot it takes for us.
            if (signal?.aborted) loading.then(() => this.#unreserve(slot), () => undefined);
            throw error;
          }
          if (signal?.aborted) {
            this.#unreserve(slot);
            signal.throwIfAborted();
          }
          return this.#lease(slot, true);
        }
        // An unload already under way frees room: wait for it rather than evict another.
        if (resident.some((other) => other.state === 'unloading')) {
          await this.#waitForChange(signal);
          continue;
        }
        const candidates = resident
          .filter((other) => other.state === 'loaded')
          .sort((a, b) => (a.lastUsed ?? a.loadedAt) - (b.lastUsed ?? b.loadedAt));
        const idle = candidates.find((other) => other.active === 0);
        if (idle) {
          stopDraining();
          void this.#startUnload(idle, 'evicted', `evicted for '${slug}'`);
          continue;
        }
        if (!drainedVictim && candidates.length > 0) {
          drainedVictim = candidates[0]!;
          drainedVictim.draining += 1;
        }
        await this.#waitForChange(signal);
      }
    } finally {
      slot.waiting -= 1;
      leaveQueue();
      stopDraining();
      // A request woken for a free slot that leaves without it (aborted, shutting down)
      // hands the wake-up on, or the next in line would sleep beside a free slot.
      if (slot.slotWaiters.length > 0) this.#scheduleSlotWake();
    }
  }

  /** Give back the request slot {@link #startLoad} took for a caller that went away. */
  #unreserve(slot: Slot): void {
    slot.active -= 1;
    this.#emitChange();
  }

  /** Run `fn` with a leased backend (typed like `model`'s), releasing it afterwards whatever happens. */
  async use<T, B extends Backend = Backend>(model: string | PoolModelHandle<B>, fn: (backend: B) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const lease = await this.acquire(model, signal);
    try {
      return await fn(lease.backend);
    } finally {
      lease.release();
    }
  }

  /** Load a model without serving a request (TALKIES_PRELOAD). */
  async preload(slug: string): Promise<void> {
    const slot = this.#slot(slug);
    const lease = await this.acquire(slug);
    // Not a use: keep the model's idle time as it was (null when this call loaded it).
    const lastUsed = slot.lastUsed;
    lease.release();
    slot.lastUsed = lastUsed;
  }

  isLoaded(slug: string): boolean {
    return this.#slot(slug).state === 'loaded';
  }

  /**
   * Unload a model, waiting for its in-flight requests to finish first (new requests
   * wait meanwhile). Resolves false if it was not loaded.
   */
  async unload(slug: string): Promise<boolean> {
    const slot = this.#slot(slug);
    if (slot.state === 'unloaded') return false;
    slot.draining += 1;
    // A model that is still loading and then fails to load was never loaded: say so.
    let wasLoaded = slot.state !== 'loading';
    try {
      for (;;) {
        const state = slot.state as SlotState;
        if (state === 'unloaded') return wasLoaded;
        if (state === 'loaded') wasLoaded = true;
        if (state === 'loaded' && slot.active === 0) {
          await this.#startUnload(slot, 'requested', 'unload requested');
          return true;
        }
        if (slot.transition) await slot.transition.catch(() => undefined);
        else await this.#changed;
      }
    } finally {
      slot.draining -= 1;
      this.#emitChange();
    }
  }

  /** Unload every resident model; resolves to the slugs that were unloaded. */
  async unloadAll(): Promise<string[]> {
    const resident = this.#resident().map((slot) => slot.slug);
    const results = await Promise.all(resident.map(async (slug) => ((await this.unload(slug)) ? slug : undefined)));
    return results.filter((slug): slug is string => slug !== undefined);
  }

  /** Unload idle models whose last use is at least `ttlSeconds` ago. */
  async sweep(ttlSeconds: number): Promise<string[]> {
    const now = this.#now();
    const expired = [...this.#slots.values()].filter(
      (slot) =>
        slot.state === 'loaded' &&
        slot.active === 0 &&
        slot.draining === 0 &&
        now - (slot.lastUsed ?? slot.loadedAt) >= ttlSeconds * 1000,
    );
    await Promise.all(expired.map((slot) => this.#startUnload(slot, 'idle', `idle for ${ttlSeconds}s`)));
    return expired.map((slot) => slot.slug);
  }

  /** Loaded models, for `GET /api/ps`. */
  status(): LoadedModelStatus[] {
    const now = this.#now();
    return [...this.#slots.values()]
      .filter((slot) => slot.state === 'loaded')
      .map((slot) => ({
        id: slot.slug,
        loaded: true as const,
        idle_seconds: slot.lastUsed === null ? null : Math.max(0, (now - slot.lastUsed) / 1000),
        active_requests: slot.active,
        max_concurrency: slot.maxConcurrency,
      }));
  }

  /** Every model's active and waiting requests, loaded or not. */
  usage(): ModelUsage[] {
    return [...this.#slots.values()].map((slot) => ({
      slug: slot.slug,
      loaded: slot.state === 'loaded',
      active: slot.active,
      waiting: slot.waiting,
    }));
  }

  /** Requests in flight across all models. */
  get activeRequests(): number {
    let total = 0;
    for (const slot of this.#slots.values()) total += slot.active;
    return total;
  }

  /** Stop admitting requests, wait for in-flight ones, dispose everything. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#emitChange();
    await this.unloadAll();
  }
}
