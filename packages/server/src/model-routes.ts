/** Model management: /healthz, /v1/models, /v1/audio/voices, /api/ps, /unload. */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { SpeechError } from '@talkies/core';
import { ModelCatalog, type CatalogModel } from './model-catalog.js';
import { LoggerToken } from './tokens.js';

const BOOT_SECONDS = Math.floor(Date.now() / 1000);


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
    ctx.body = { object: 'list', data: this.catalog.list().map((model) => modelObject(model)) };
  }

  /** `GET /v1/models/{id}` (the SDKs' `models.retrieve`); `id` arrives decoded once. */
  model(ctx: Context, id: string): void {
    ctx.body = modelObject(this.catalog.get(id));
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

  /** `id` arrives decoded once: `org%2Fmodel` is `org/model`, as LiteLLM sends it. */
  async unloadOne(ctx: Context, requested: string): Promise<void> {
    const id = this.catalog.get(requested).slug;
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

/** One entry of OpenAI's model list, with what talkies adds. */
function modelObject(model: CatalogModel) {
  return {
    id: model.slug,
    object: 'model',
    created: BOOT_SECONDS,
    owned_by: 'talkies',
    modality: model.backend.modality,
    executor: model.entry.executor,
    max_concurrency: model.maxConcurrency,
    aliases: [...(model.entry.aliases ?? [])],
  };
}
