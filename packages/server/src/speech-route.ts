/**
 * POST /v1/audio/speech, in the Python talkies' check order: body schema (422) →
 * model known (404) → model is TTS (400) → voice (400) → response_format (400) →
 * non-blank input (400) → synthesize → encode.
 *
 * Three ways to answer:
 * - whole (the default): the clip with a Content-Length once it is all synthesised;
 * - `stream_format: "audio"`, and `response_format: "pcm"` always: chunked transfer,
 *   each sentence's audio sent as soon as the engine has it, through one encoder for the
 *   whole answer (WAV with a streaming header);
 * - `stream_format: "sse"`: OpenAI's events, `speech.audio.delta` with base64 audio of
 *   the same stream, then `speech.audio.done`.
 *
 * A whole answer is built from the same blocks as a streamed one (the engine's
 * synthesizeStream when it has one), so the two are the same audio: byte for byte for
 * pcm and for WAV's samples, the same encoding otherwise.
 *
 * The model is held (pool lease) only while the engine synthesises. A client that goes
 * away aborts the request signal: the engine stops, the lease is returned at once and
 * the next request is served.
 */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import { z } from 'zod';
import {
  SpeechError,
  type SpeechAudio,
  type SynthesizeRequest,
  type SynthesizeResult,
  type TtsBackend,
} from '@talkies/core';
import {
  AUDIO_CONTENT_TYPES,
  AUDIO_FORMATS,
  encodeAudio,
  encodeAudioStream,
  isAudioFormat,
  SpareEncoders,
  type AudioFormat,
} from '@talkies/audio';
import type { Logger } from 'pino';
import { ModelCatalog, type CatalogModel } from './model-catalog.js';
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

type Delivery = 'whole' | 'audio' | 'sse';

const INSTRUCTIONS_IGNORED = 'instructions are ignored by this model';

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

/** The engine's blocks: synthesizeStream when it has one, else its whole clip as one block. */
async function* speechBlocks(backend: TtsBackend, request: SynthesizeRequest): AsyncGenerator<SpeechAudio, void, undefined> {
  if (backend.synthesizeStream) {
    yield* backend.synthesizeStream(request);
    return;
  }
  const { samples, sampleRate } = await backend.synthesize(request);
  yield { samples, sampleRate };
}

/** Runs `release` once the blocks are exhausted, fail, or are abandoned. */
async function* releasingAfter<T>(blocks: AsyncIterable<T>, release: () => void): AsyncGenerator<T, void, undefined> {
  try {
    yield* blocks;
  } finally {
    release();
  }
}

/** Collects a stream's blocks into one clip (they must share a sample rate). */
async function collect(blocks: AsyncIterable<SpeechAudio>): Promise<SpeechAudio> {
  const parts: Float32Array[] = [];
  let sampleRate: number | undefined;
  let length = 0;
  for await (const block of blocks) {
    if (sampleRate !== undefined && block.sampleRate !== sampleRate) {
      throw new SpeechError('INFERENCE_FAILED', `the engine changed its sample rate mid-stream (${sampleRate} Hz, then ${block.sampleRate} Hz)`);
    }
    sampleRate = block.sampleRate;
    parts.push(block.samples);
    length += block.samples.length;
  }
  // One block (a one-sentence input) needs no copy.
  if (parts.length === 1) return { samples: parts[0]!, sampleRate: sampleRate! };
  const samples = new Float32Array(length);
  let offset = 0;
  for (const part of parts) {
    samples.set(part, offset);
    offset += part.length;
  }
  return { samples, sampleRate: sampleRate ?? 24000 };
}

/** Waits until the response can take more, or the connection is gone. */
function writable(response: Context['res']): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

function sseEvent(event: object): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}

@injectable()
export class SpeechRoute {
  /** The sample rate each model last produced, so a stream's encoder can start early. */
  readonly #sampleRates = new Map<string, number>();
  /** Idle ffmpeg encoders, one per format and rate in use, so a stream need not wait for one to start. */
  readonly #spares = new SpareEncoders();

  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {}

  /** Stops the idle encoders (they also stop by themselves after 15 s unused); call it when the server shuts down. */
  close(): void {
    this.#spares.close();
  }

  async handle(ctx: Context): Promise<void> {
    const body = validate(speechRequestSchema, ctx.request.body ?? {});
    const model = this.catalog.tts(body.model);
    let voice: string;
    try {
      voice = await resolveVoice(model.backend, model.slug, body.voice);
    } catch (error) {
      if (!SpeechError.is(error) || error.code !== 'MODEL_UNAVAILABLE') throw error;
      // The voice catalog lives in files that are not there yet: loading the model fetches
      // them (engines that download do it in load()), then the voice can be checked.
      await this.catalog.pool.use(model.slug, async () => undefined, requestSignal(ctx));
      voice = await resolveVoice(model.backend, model.slug, body.voice);
    }
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
    const signal = requestSignal(ctx);
    // Fields beyond the OpenAI request go to the engine as they are; it validates what it reads.
    const extra = Object.fromEntries(Object.entries(ctx.request.body ?? {}).filter(([key]) => !Object.hasOwn(speechRequestSchema.shape, key)));
    const request: SynthesizeRequest = {
      text: body.input,
      voice,
      speed: body.speed,
      language: body.language,
      instructions: body.instructions,
      ...(Object.keys(extra).length > 0 ? { extra } : {}),
      signal,
    };
    const warnings: string[] = [];
    if (body.instructions?.trim() && !model.backend.capabilities.instructions) {
      warnings.push(INSTRUCTIONS_IGNORED);
      this.logger.warn({ model: model.slug }, 'instructions were ignored: this model does not take style instructions');
    }
    const delivery: Delivery = body.stream_format === 'sse' ? 'sse' : body.stream_format === 'audio' || format === 'pcm' ? 'audio' : 'whole';
    if (delivery === 'whole') await this.#whole(ctx, model, request, format, warnings);
    else await this.#stream(ctx, model, request, format, delivery, warnings);
  }

  async #whole(ctx: Context, model: CatalogModel, request: SynthesizeRequest, format: AudioFormat, warnings: string[]): Promise<void> {
    const result = await this.catalog.pool.use(
      model.slug,
      async (backend): Promise<SynthesizeResult> => {
        const tts = backend as TtsBackend;
        return tts.synthesizeStream ? collect(tts.synthesizeStream(request)) : tts.synthesize(request);
      },
      request.signal,
    );
    this.#sampleRates.set(model.slug, result.sampleRate);
    const audio = await encodeAudio(result, format, { signal: request.signal });
    ctx.status = 200;
    ctx.type = AUDIO_CONTENT_TYPES[format];
    if (format === 'pcm') ctx.set('X-Sample-Rate', String(result.sampleRate));
    for (const warning of new Set([...warnings, ...(result.warnings ?? [])])) ctx.append('X-Talkies-Warning', warning);
    ctx.body = audio;
  }

  async #stream(
    ctx: Context,
    model: CatalogModel,
    request: SynthesizeRequest,
    format: AudioFormat,
    delivery: 'audio' | 'sse',
    warnings: string[],
  ): Promise<void> {
    const { signal } = request;
    const lease = await this.catalog.pool.acquire(model.slug, signal);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      lease.release();
    };
    let sampleRate: number | undefined;
    const encoded = encodeAudioStream(releasingAfter(speechBlocks(lease.backend as TtsBackend, request), release), format, {
      signal,
      expectedSampleRate: this.#sampleRates.get(model.slug),
      spares: this.#spares,
      onSampleRate: (rate) => {
        sampleRate = rate;
        this.#sampleRates.set(model.slug, rate);
      },
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
        const status = SpeechError.is(error) ? error.status : 500;
        const message = SpeechError.is(error) && status < 500 ? error.message : 'the stream failed; the server log has the details';
        const code = SpeechError.is(error) ? error.code.toLowerCase() : 'internal';
        response.end(sseEvent({ type: 'error', error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', code, param: null } }));
      } else {
        // Audio bytes cannot carry an error: cut the connection, so the client sees a broken transfer.
        response.destroy();
      }
    } finally {
      await encoded.return(undefined).catch(() => undefined);
      release();
    }
  }
}
