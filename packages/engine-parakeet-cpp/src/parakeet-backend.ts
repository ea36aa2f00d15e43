import {
  SpeechError,
  type AsrBackend,
  type AsrCapabilities,
  type AsrStreamOptions,
  type AsrStreamSession,
  type EngineContext,
  type TranscribeRequest,
  type TranscriptionResult,
} from '@talkies/core';
import { DECODER_CODE, type ParakeetOptions } from './engine-options.js';
import { checkGgufFile, localGguf } from './model-files.js';
import type { NativeContext, ParakeetLibrary } from './parakeet-library.js';
import type { ParakeetStreamSession } from './parakeet-stream.js';

const EXECUTOR = 'parakeet_cpp';
/** Concurrent requests per model unless models.json says otherwise (the Python talkies shipped 2). */
const DEFAULT_CONCURRENCY = 2;
/** The C API counts samples in an `int`. */
const MAX_SAMPLES = 2 ** 31 - 1;

interface Loaded {
  library: ParakeetLibrary;
  context: NativeContext;
  /** Native calls running, awaited before the context is freed. */
  running: Set<Promise<unknown>>;
  sessions: Set<ParakeetStreamSession>;
}

/** Cache-aware streaming GGUFs say so in their names (nemotron-…-streaming, realtime_eou). */
function looksStreaming(name: string): boolean {
  return /streaming|realtime|(^|[^a-z])eou([^a-z]|$)/i.test(name);
}

/**
 * One parakeet.cpp model. Creating it reads nothing; `load()` finds (or downloads) the
 * GGUF, opens libparakeet with koffi and loads the model into one native context, which
 * serves concurrent requests and live sessions.
 */
export class ParakeetCppBackend implements AsrBackend {
  readonly specificationVersion = 'v1';
  readonly modality = 'asr';
  readonly defaultConcurrency: number;
  #capabilities: AsrCapabilities;
  readonly #context: EngineContext<ParakeetOptions>;
  readonly #ggufFile: string | undefined;
  #loaded?: Loaded;

  constructor(context: EngineContext<ParakeetOptions>) {
    this.#context = context;
    const { entry, options, modelId } = context;
    this.#ggufFile = checkGgufFile(entry, modelId);
    this.defaultConcurrency = entry.max_concurrency ?? DEFAULT_CONCURRENCY;
    this.#capabilities = {
      wordTimestamps: true,
      segmentTimestamps: true,
      streaming: options.streaming ?? looksStreaming(this.#ggufFile ?? entry.repo),
      translation: false,
      languages: entry.languages?.filter((language) => language !== 'auto') ?? 'any',
      longForm: false,
    };
  }

  get capabilities(): AsrCapabilities {
    return this.#capabilities;
  }

  /** The loaded library's ABI version and features (undefined before load); for diagnostics and tests. */
  get library(): Pick<ParakeetLibrary, 'abi' | 'features' | 'path'> | undefined {
    return this.#loaded?.library;
  }

  #error(code: 'MODEL_NOT_LOADED' | 'MODEL_UNAVAILABLE' | 'MODEL_LOAD_FAILED' | 'INFERENCE_FAILED' | 'INVALID_REQUEST' | 'UNSUPPORTED_CAPABILITY' | 'ABORTED', message: string, extra: { cause?: unknown; param?: string } = {}): SpeechError {
    return new SpeechError(code, message, { executor: EXECUTOR, model: this.#context.modelId, ...extra });
  }

  async load(): Promise<void> {
    if (this.#loaded) return;
    const { options, modelId, entry, paths, logger, signal } = this.#context;
    let gguf = await localGguf(paths.modelDir, this.#ggufFile);
    if (!gguf) {
      const wanted = this.#ggufFile ?? 'a .gguf file';
      if (!options.download) {
        throw this.#error(
          'MODEL_UNAVAILABLE',
          `model '${modelId}' is not on disk (${wanted} missing in ${paths.modelDir}) and downloads are off for it; put the file from ${entry.repo} there, or set engineOptions.download to true`,
        );
      }
      const { downloadGguf } = await import('./model-files.js');
      await downloadGguf({ modelId, repo: entry.repo, revision: entry.revision, modelDir: paths.modelDir, ggufFile: this.#ggufFile, signal, logger });
      gguf = await localGguf(paths.modelDir, this.#ggufFile);
      if (!gguf) throw this.#error('MODEL_UNAVAILABLE', `model '${modelId}': the repository ${entry.repo} has no GGUF file; set gguf_file to one it has`);
    }
    // koffi and the binding load here, never when the engine is imported.
    const { openLibrary } = await import('./parakeet-library.js');
    const library = openLibrary(options.library, modelId);
    let context: NativeContext;
    try {
      context = await library.load(gguf);
    } catch (cause) {
      throw this.#error('MODEL_LOAD_FAILED', `model '${modelId}' failed to load from ${gguf}: ${(cause as Error).message}`, { cause });
    }
    const backends = library.setConcurrency(context, this.defaultConcurrency, options.threads);
    this.#loaded = { library, context, running: new Set(), sessions: new Set() };
    logger.debug({ library: library.path, abi: library.abi, features: library.features, backends }, 'parakeet.cpp model loaded');
  }

  async dispose(): Promise<void> {
    const loaded = this.#loaded;
    if (!loaded) return;
    this.#loaded = undefined;
    // The context must outlive its streams and every call running on it.
    await Promise.all([...loaded.sessions].map((session) => session.close()));
    await Promise.allSettled([...loaded.running]);
    loaded.library.free(loaded.context);
  }

  #require(): Loaded {
    if (!this.#loaded) throw this.#error('MODEL_NOT_LOADED', `model '${this.#context.modelId}' is not loaded`);
    return this.#loaded;
  }

  /** A pinned language, checked against the languages models.json lists; undefined lets the model choose. */
  #language(requested: string | undefined): string | undefined {
    const language = requested?.trim().toLowerCase();
    if (!language || language === 'auto') return undefined;
    // Whatever the client sent goes to C as a locale: only the shape of one gets through.
    if (language.length > 35 || !/^[a-z]{2,3}(?:[-_][a-z0-9]{1,16})*$/.test(language)) {
      throw this.#error('INVALID_REQUEST', `language '${requested?.slice(0, 40)}' is not a language code; send an ISO 639-1 code such as 'en' or a locale such as 'en-us'`, { param: 'language' });
    }
    const known = this.capabilities.languages;
    if (known !== 'any' && !known.includes(language)) {
      throw this.#error('INVALID_REQUEST', `model '${this.#context.modelId}' does not know language '${requested}'; it knows: auto, ${known.join(', ')}`, { param: 'language' });
    }
    return language;
  }

  async transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    const loaded = this.#require();
    const { modelId, options } = this.#context;
    if (request.signal.aborted) throw this.#error('ABORTED', 'the transcription was cancelled');
    if (request.task === 'translate') {
      throw this.#error('UNSUPPORTED_CAPABILITY', `model '${modelId}' transcribes only; parakeet.cpp models do not translate`, { param: 'task' });
    }
    const language = this.#language(request.language);
    const duration = request.audio.length / request.sampleRate;
    if (request.audio.length === 0) return { text: '', duration: 0, segments: [], words: [], ...(language ? { language } : {}) };
    if (request.audio.length > MAX_SAMPLES) {
      throw this.#error('INVALID_REQUEST', `the audio is too long for one parakeet.cpp call (${request.audio.length} samples)`);
    }
    const { library, context, running } = loaded;
    const decoder = DECODER_CODE[options.decoder];
    const words = language === undefined || library.features.jsonWithLanguage;
    const call = words
      ? library.transcribeJson(context, request.audio, request.sampleRate, decoder, language)
      : library.transcribeText(context, request.audio, request.sampleRate, decoder, language!);
    running.add(call);
    let raw: string | null;
    try {
      raw = await call;
    } catch (cause) {
      throw this.#error('INFERENCE_FAILED', `parakeet.cpp could not be called for model '${modelId}': ${(cause as Error).message}`, { cause });
    } finally {
      running.delete(call);
    }
    // The native call cannot be interrupted; a client that left gets nothing.
    if (request.signal.aborted) throw this.#error('ABORTED', 'the transcription was cancelled');
    if (raw === null) {
      const reason = library.lastError(context) || 'no reason given';
      if (language !== undefined && /lang|locale/i.test(reason)) {
        throw this.#error('INVALID_REQUEST', `model '${modelId}' cannot transcribe language '${request.language}': ${reason}`, { param: 'language' });
      }
      throw this.#error('INFERENCE_FAILED', `parakeet.cpp failed for model '${modelId}': ${reason}`);
    }
    const { resultFromBatchJson, resultFromText } = await import('./parakeet-result.js');
    try {
      if (!words) return { ...resultFromText(raw, duration), language, warnings: ['this libparakeet gives no word timestamps with a pinned language (it lacks transcribe_pcm_batch_json_lang)'] };
      const { detectedLanguage, ...result } = resultFromBatchJson(raw, duration);
      const resultLanguage = language ?? detectedLanguage;
      return { ...result, ...(resultLanguage ? { language: resultLanguage } : {}) };
    } catch (cause) {
      throw this.#error('INFERENCE_FAILED', (cause as Error).message, { cause });
    }
  }

  async openStream(options: AsrStreamOptions): Promise<AsrStreamSession> {
    const loaded = this.#require();
    const { modelId } = this.#context;
    if (options.signal.aborted) throw this.#error('ABORTED', 'the stream was cancelled before it began');
    if (!(options.sampleRate > 0)) throw this.#error('INVALID_REQUEST', `sampleRate must be positive, got ${options.sampleRate}`);
    const language = this.#language(options.language);
    const { library, context, sessions } = loaded;
    const { ParakeetStreamSession, StreamBeginError } = await import('./parakeet-stream.js');
    let session: ParakeetStreamSession;
    try {
      session = await ParakeetStreamSession.open({
        library,
        context,
        ...(language === undefined ? {} : { language }),
        sampleRate: options.sampleRate,
        signal: options.signal,
        modelId,
        onClosed: (closed) => sessions.delete(closed),
      });
    } catch (error) {
      if (!(error instanceof StreamBeginError)) throw error;
      const reason = error.message;
      if (language !== undefined && /lang|locale/i.test(reason)) {
        throw this.#error('INVALID_REQUEST', `model '${modelId}' cannot stream language '${options.language}': ${reason}`, { param: 'language' });
      }
      // The library knows better than the file name: say so from now on.
      this.#capabilities = { ...this.#capabilities, streaming: false };
      throw this.#error('UNSUPPORTED_CAPABILITY', `model '${modelId}' cannot stream: ${reason}; live sessions need a cache-aware streaming GGUF (e.g. nemotron-…-streaming, realtime_eou)`);
    }
    if (!this.#capabilities.streaming) this.#capabilities = { ...this.#capabilities, streaming: true };
    sessions.add(session);
    return session;
  }
}
