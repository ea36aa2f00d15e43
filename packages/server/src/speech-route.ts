/**
 * POST /v1/audio/speech: the body schema (422), then {@link SpeechService} checks the
 * rest in the Python talkies' order (model 404, not TTS 400, voice 400, response_format
 * 400, blank input 400), synthesises and encodes. This route only parses and delivers,
 * in one of three ways:
 * - whole (the default): the clip with a Content-Length once it is all synthesised;
 * - `stream_format: "audio"`, and `response_format: "pcm"` always: chunked transfer,
 *   each sentence's audio sent as soon as the engine has it, through one encoder for the
 *   whole answer (WAV with a streaming header);
 * - `stream_format: "sse"`: OpenAI's events, `speech.audio.delta` with base64 audio of
 *   the same stream, then `speech.audio.done`.
 *
 * A client that goes away aborts the request signal: the engine stops, the lease is
 * returned at once and the next request is served.
 */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import { z } from 'zod';
import { AUDIO_CONTENT_TYPES } from '@talkies/audio';
import type { Logger } from 'pino';
import { SpeechService, type SpeechOrder } from './speech-service.js';
import { LoggerToken } from './tokens.js';
import { requestSignal, validate } from './request-helpers.js';
import { sseErrorEvent, sseEvent, writable } from './event-stream.js';

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

type Delivery = 'whole' | 'audio' | 'sse';

@injectable()
export class SpeechRoute {
  constructor(
    @inject(SpeechService) private readonly speech: SpeechService,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {}

  async handle(ctx: Context): Promise<void> {
    const body = validate(speechRequestSchema, ctx.request.body ?? {});
    // Fields beyond the OpenAI request go to the engine as they are; it validates what it reads.
    const extra = Object.fromEntries(Object.entries(ctx.request.body ?? {}).filter(([key]) => !Object.hasOwn(speechRequestSchema.shape, key)));
    const order = await this.speech.prepare({ ...body, extra }, requestSignal(ctx));
    const delivery: Delivery = body.stream_format === 'sse' ? 'sse' : body.stream_format === 'audio' || order.format === 'pcm' ? 'audio' : 'whole';
    if (delivery === 'whole') await this.#whole(ctx, order);
    else await this.#stream(ctx, order, delivery);
  }

  async #whole(ctx: Context, order: SpeechOrder): Promise<void> {
    const clip = await this.speech.whole(order);
    ctx.status = 200;
    ctx.type = AUDIO_CONTENT_TYPES[order.format];
    if (order.format === 'pcm') ctx.set('X-Sample-Rate', String(clip.sampleRate));
    for (const warning of clip.warnings) ctx.append('X-Talkies-Warning', warning);
    ctx.body = clip.audio;
  }

  async #stream(ctx: Context, order: SpeechOrder, delivery: 'audio' | 'sse'): Promise<void> {
    const { format, warnings, model } = order;
    const { signal } = order.request;
    let sampleRate: number | undefined;
    const encoded = await this.speech.stream(order, (rate) => {
      sampleRate = rate;
    });
    const response = ctx.res;
    let headersSent = false;
    try {
      // Nothing is sent before the first bytes exist: an error until then (bad voice for
      // the engine, nothing to pronounce) is an ordinary error answer.
      let next = await encoded.next();
      ctx.status = 200;
      ctx.respond = false;
      const headers: Record<string, string | string[]> = {
        'Content-Type': delivery === 'sse' ? 'text/event-stream' : AUDIO_CONTENT_TYPES[format],
        'Cache-Control': 'no-cache',
        'X-Accel-Buffering': 'no',
      };
      if (format === 'pcm' && sampleRate !== undefined) headers['X-Sample-Rate'] = String(sampleRate);
      if (warnings.length > 0) headers['X-Talkies-Warning'] = warnings;
      response.writeHead(200, headers);
      headersSent = true;
      response.flushHeaders();
      for (; !next.done; next = await encoded.next()) {
        if (signal.aborted) return;
        const chunk = delivery === 'sse' ? sseEvent({ type: 'speech.audio.delta', audio: next.value.toString('base64') }) : next.value;
        if (!response.write(chunk)) await writable(response);
      }
      if (signal.aborted) return;
      // talkies counts no tokens for speech: the usage says so with zeros.
      if (delivery === 'sse') response.write(sseEvent({ type: 'speech.audio.done', usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } }));
      response.end();
    } catch (error) {
      // The client went away: synthesis has stopped and there is no one to tell.
      if (signal.aborted) return;
      if (!headersSent) {
        ctx.respond = true;
        throw error;
      }
      this.logger.error({ err: error, model: model.slug, requestId: ctx.state.requestId }, 'speech stream failed after it started');
      if (delivery === 'sse' && response.writable) {
        response.end(sseErrorEvent(error));
      } else {
        // Audio bytes cannot carry an error: cut the connection, so the client sees a broken transfer.
        response.destroy();
      }
    } finally {
      // Stops the engine and the encoder, and returns the model's lease.
      await encoded.return().catch(() => undefined);
    }
  }
}
