/**
 * Unloads models that have been idle for `ttlSeconds` (`TALKIES_MODEL_TTL`), checking
 * every `intervalSeconds` (`TALKIES_SWEEPER_INTERVAL`). Either set to 0 disables it. Time
 * comes from the pool's injected clock, so tests call {@link IdleSweeper.tick} directly.
 */
import type { EngineLogger } from './define-engine.js';
import type { EvictionPool } from './eviction-pool.js';

export interface IdleSweeperOptions {
  ttlSeconds: number;
  intervalSeconds: number;
  logger?: EngineLogger;
}

export class IdleSweeper {
  readonly #pool: EvictionPool;
  readonly #options: IdleSweeperOptions;
  #timer?: NodeJS.Timeout;
  #running?: Promise<string[]>;

  constructor(pool: EvictionPool, options: IdleSweeperOptions) {
    this.#pool = pool;
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#options.ttlSeconds > 0 && this.#options.intervalSeconds > 0;
  }

  /** One sweep: unloads expired models and resolves to their slugs. */
  async tick(): Promise<string[]> {
    if (this.#options.ttlSeconds <= 0) return [];
    // Never run two sweeps at once; a slow dispose must not stack sweeps up. A tick that
    // joins a running sweep shares its result, and the sweep logs once.
    this.#running ??= this.#pool
      .sweep(this.#options.ttlSeconds)
      .then((swept) => {
        if (swept.length > 0) this.#options.logger?.info({ models: swept }, 'idle models unloaded');
        return swept;
      })
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  start(): void {
    if (!this.enabled || this.#timer) return;
    this.#timer = setInterval(() => {
      this.tick().catch((error) => this.#options.logger?.error({ err: error }, 'idle sweep failed'));
    }, this.#options.intervalSeconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
