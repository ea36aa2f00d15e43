/**
 * Speech synthesis as a service, apart from HTTP: it picks the model, resolves the voice,
 * checks the format and input, leases the model from the pool, synthesises and encodes.
 * The speech route (and any other front end: MCP, Wyoming) only parses and delivers.
 *
 * A whole answer is built from the same blocks as a streamed one (the engine's
 * synthesizeStream when it has one), so the two are the same audio: byte for byte for
 * pcm and for WAV's samples, the same encoding otherwise.
 *
 * The model is held (pool lease) only while the engine synthesises. When the request's
 * signal aborts (the client went away), the engine stops and the lease is returned at once.
 */
import { inject, injectable } from 'tsyringe';
import {
  collectSpeech,
  SpeechError,
  type SpeechAudio,
  type SynthesizeRequest,
  type SynthesizeResult,
  type TtsBackend,
} from '@talkies/core';
import {
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

const INSTRUCTIONS_IGNORED = 'instructions are ignored by this model';

/** What to speak, as a client asked for it (already schema-checked). */
export interface SpeechAsk {
  model: string;
  input: string;
  voice?: string;
  response_format?: string;
  speed: number;
  instructions?: string;
  language?: string;
  /** Fields beyond OpenAI's request, passed to the engine as they are (it validates what it reads). */
  extra?: Record<string, unknown>;
}

/** A checked request, ready to synthesise. */
export interface SpeechOrder {
  model: CatalogModel & { backend: TtsBackend };
  request: SynthesizeRequest;
  format: AudioFormat;
  /** Warnings known before synthesis (ignored instructions). */
  warnings: string[];
}

/** Encoded audio as it is synthesised; `return()` stops it and returns the model's lease. */
export interface SpeechStream {
  next(): Promise<IteratorResult<Buffer, void>>;
  return(): Promise<void>;
}

/** A whole, encoded answer. */
export interface SpokenClip {
  audio: Buffer;
  sampleRate: number;
  warnings: string[];
}

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

@injectable()
export class SpeechService {
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

  /**
   * Check a request in the Python talkies' order: model known (404) → model is TTS (400)
   * → voice (400) → response_format (400) → non-blank input (400).
   */
  async prepare(ask: SpeechAsk, signal: AbortSignal): Promise<SpeechOrder> {
    const model = this.catalog.tts(ask.model);
    // Voices are metadata: the contract has engines answer them before load().
    const voice = await resolveVoice(model.backend, model.slug, ask.voice);
    const format = (ask.response_format || 'mp3').toLowerCase();
    if (!isAudioFormat(format)) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `unsupported response_format '${ask.response_format}'; use one of: ${AUDIO_FORMATS.join(', ')}`,
        { param: 'response_format' },
      );
    }
    if (ask.input.trim() === '') {
      throw new SpeechError('INVALID_REQUEST', 'input text is empty; send the text to speak in `input`', { param: 'input' });
    }
    const warnings: string[] = [];
    if (ask.instructions?.trim() && !model.backend.capabilities.instructions) {
      warnings.push(INSTRUCTIONS_IGNORED);
      this.logger.warn({ model: model.slug }, 'instructions were ignored: this model does not take style instructions');
    }
    const request: SynthesizeRequest = {
      text: ask.input,
      voice,
      speed: ask.speed,
      language: ask.language,
      instructions: ask.instructions,
      ...(ask.extra && Object.keys(ask.extra).length > 0 ? { extra: ask.extra } : {}),
      signal,
    };
    return { model, request, format, warnings };
  }

  /** Synthesise the whole text, then encode it as one clip. */
  async whole(order: SpeechOrder): Promise<SpokenClip> {
    const { model, request, format } = order;
    const result = await this.catalog.pool.use(
      model,
      async (backend): Promise<SynthesizeResult> => (backend.synthesizeStream ? collectSpeech(backend.synthesizeStream(request), 24000) : backend.synthesize(request)),
      request.signal,
    );
    this.#sampleRates.set(model.slug, result.sampleRate);
    const audio = await encodeAudio(result, format, { signal: request.signal });
    return { audio, sampleRate: result.sampleRate, warnings: [...new Set([...order.warnings, ...(result.warnings ?? [])])] };
  }

  /**
   * The encoded audio as it is synthesised. The model is leased when this is called and
   * returned once the blocks are exhausted, fail, or the iterator is abandoned (return()).
   * `onSampleRate` learns the engine's rate before the first bytes are yielded.
   */
  async stream(order: SpeechOrder, onSampleRate?: (rate: number) => void): Promise<SpeechStream> {
    const { model, request, format } = order;
    const lease = await this.catalog.pool.acquire(model, request.signal);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      lease.release();
    };
    const encoded = encodeAudioStream(releasingAfter(speechBlocks(lease.backend, request), release), format, {
      signal: request.signal,
      expectedSampleRate: this.#sampleRates.get(model.slug),
      spares: this.#spares,
      onSampleRate: (rate) => {
        this.#sampleRates.set(model.slug, rate);
        onSampleRate?.(rate);
      },
    });
    // The lease goes back however the stream ends, even when the engine's blocks were
    // never started (a generator that never ran skips its finally on return()).
    return {
      async next() {
        try {
          const result = await encoded.next();
          if (result.done) release();
          return result;
        } catch (error) {
          release();
          throw error;
        }
      },
      async return() {
        try {
          await encoded.return(undefined);
        } finally {
          release();
        }
      },
    };
  }
}
