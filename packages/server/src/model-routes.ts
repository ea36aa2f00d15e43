/** Model management: /healthz, /v1/models, /v1/audio/voices, /api/ps, /unload. */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { SpeechError } from '@talkies/core';
import { ModelCatalog } from './model-catalog.js';
import { decodeRepeatedly } from './staged-path.js';
import { LoggerToken } from './tokens.js';

const BOOT_SECONDS = Math.floor(Date.now() / 1000);

/** `DELETE /api/ps/{id}` ids arrive URL-encoded, sometimes twice (LiteLLM's `%2F`). */
export const decodeModelId = decodeRepeatedly;

@injectable()
export class ModelRoutes {
  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {}

  healthz(ctx: Context): void {
    ctx.body = { ok: true, device: 'cpu', models: this.catalog.registry.slugs };
  }

  models(ctx: Context): void {
    ctx.body = {
      object: 'list',
      data: this.catalog.list().map((model) => ({
        id: model.slug,
        object: 'model',
        created: BOOT_SECONDS,
        owned_by: 'talkies',
        modality: model.backend.modality,
        executor: model.entry.executor,
        max_concurrency: model.maxConcurrency,
      })),
    };
  }

  async voices(ctx: Context): Promise<void> {
    const voices: { voice: string; model: string; default: boolean; language?: string; origin?: string }[] = [];
    for (const model of this.catalog.list()) {
      if (model.backend.modality !== 'tts') continue;
      const backend = model.backend;
      for (const voice of await backend.voices()) {
        voices.push({
          voice: voice.id,
          model: model.slug,
          default: voice.id === backend.defaultVoice,
          ...(voice.language ? { language: voice.language } : {}),
          ...(voice.origin ? { origin: voice.origin } : {}),
        });
      }
    }
    ctx.body = { voices };
  }

  ps(ctx: Context): void {
    ctx.body = {
      models: this.catalog.pool.status().map((status) => ({
        id: status.id,
        repo: this.catalog.get(status.id).entry.repo,
        loaded: true,
        idle_seconds: status.idle_seconds,
        active_requests: status.active_requests,
        max_concurrency: status.max_concurrency,
      })),
    };
  }

  async unloadOne(ctx: Context, rawId: string): Promise<void> {
    const id = decodeModelId(rawId);
    this.catalog.get(id);
    const unloaded = await this.catalog.pool.unload(id);
    if (!unloaded) {
      throw new SpeechError('MODEL_NOT_LOADED', `model '${id}' is not loaded; GET /api/ps lists the loaded models`, {
        model: id,
      });
    }
    ctx.body = { unloaded: id };
  }

  async unloadAll(ctx: Context): Promise<void> {
    ctx.body = { unloaded: await this.catalog.pool.unloadAll() };
  }
}
