/**
 * POST /v1/audio/speech, in the Python talkies' check order: body schema (422) →
 * model known (404) → model is TTS (400) → voice in catalog (400) → response_format
 * (400) → non-blank input (400) → synthesize → encode.
 */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import { z } from 'zod';
import { SpeechError, type TtsBackend } from '@talkies/core';
import { AUDIO_CONTENT_TYPES, AUDIO_FORMATS, encodeAudio, isAudioFormat } from '@talkies/audio';
import type { Logger } from 'pino';
import { ModelCatalog } from './model-catalog.js';
import { LoggerToken } from './tokens.js';
import { requestSignal, validate } from './request-helpers.js';

export const speechRequestSchema = z.object({
  model: z.string().trim().min(1, 'model is required: name a configured TTS slug (GET /v1/models)'),
  input: z.string({ error: 'input is required: the text to speak' }).max(100_000, 'input is longer than 100000 characters; split it'),
  voice: z.string().trim().optional(),
  response_format: z.string().trim().optional(),
  speed: z.number().min(0.25, 'speed must be between 0.25 and 4.0').max(4, 'speed must be between 0.25 and 4.0').default(1),
  instructions: z.string().optional(),
  language: z.string().trim().optional(),
  stream_format: z.enum(['audio', 'sse']).optional(),
});

export type SpeechRequestBody = z.output<typeof speechRequestSchema>;

/** Resolve the voice against the backend's catalog, or 400 listing some voices. */
export async function resolveVoice(backend: TtsBackend, slug: string, requested: string | undefined): Promise<string> {
  const voice = requested || backend.defaultVoice;
  if (backend.validateVoice) {
    await backend.validateVoice(voice);
    return voice;
  }
  const catalog = await backend.voices();
  if (!catalog.some((entry) => entry.id === voice)) {
    const ids = catalog.map((entry) => entry.id);
    const shown = ids.slice(0, 30).join(', ') + (ids.length > 30 ? `, … (${ids.length} in all: GET /v1/audio/voices)` : '');
    throw new SpeechError('INVALID_REQUEST', `unknown voice '${voice}' for model '${slug}'; available: ${shown}`, {
      param: 'voice',
      model: slug,
    });
  }
  return voice;
}

@injectable()
export class SpeechRoute {
  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {}

  async handle(ctx: Context): Promise<void> {
    const body = validate(speechRequestSchema, ctx.request.body ?? {});
    const model = this.catalog.tts(body.model);
    const voice = await resolveVoice(model.backend, model.slug, body.voice);
    const format = (body.response_format || 'mp3').toLowerCase();
    if (!isAudioFormat(format)) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `unsupported response_format '${body.response_format}'; use one of: ${AUDIO_FORMATS.join(', ')}`,
        { param: 'response_format' },
      );
    }
    if (body.input.trim() === '') {
      throw new SpeechError('INVALID_REQUEST', 'input text is empty; send the text to speak in `input`', { param: 'input' });
    }
    if (body.stream_format === 'sse') {
      throw new SpeechError(
        'INVALID_REQUEST',
        "stream_format 'sse' is not available on this server yet; omit stream_format to get the whole clip",
        { param: 'stream_format' },
      );
    }
    const signal = requestSignal(ctx);
    const result = await this.catalog.pool.use(
      model.slug,
      (backend) =>
        (backend as TtsBackend).synthesize({
          text: body.input,
          voice,
          speed: body.speed,
          language: body.language,
          instructions: body.instructions,
          signal,
        }),
      signal,
    );
    if (body.instructions && !model.backend.capabilities.instructions) {
      this.logger.warn({ model: model.slug }, 'instructions were ignored: this model does not take style instructions');
    }
    const audio = await encodeAudio(result, format, { signal });
    ctx.status = 200;
    ctx.type = AUDIO_CONTENT_TYPES[format];
    if (format === 'pcm') ctx.set('X-Sample-Rate', String(result.sampleRate));
    for (const warning of result.warnings ?? []) ctx.append('X-Talkies-Warning', warning);
    ctx.body = audio;
  }
}
