import {
  SpeechError,
  type AsrBackend,
  type AsrCapabilities,
  type EngineContext,
  type TranscribeRequest,
  type TranscriptionResult,
} from '@talkies/core';
import type { WhisperOptions } from './engine-options.js';
import { missingFiles } from './model-files.js';
import type { LoadedWhisper } from './whisper-runtime.js';
import { WHISPER_LANGUAGES } from './whisper-languages.js';

/** Batch size when the engine option leaves it open and the model is small. */
const DEFAULT_MAX_BATCH = 8;
/** A full batch's cross-attention keys and values stay under this. */
const BATCH_CACHE_BUDGET = 1 << 30;

/** Up to {@link DEFAULT_MAX_BATCH} sequences, fewer when each one's cross-attention cache is large. */
function defaultBatchSize(bytesPerSequence: number): number {
  return Math.max(1, Math.min(DEFAULT_MAX_BATCH, Math.floor(BATCH_CACHE_BUDGET / Math.max(1, bytesPerSequence))));
}

/** `openai/whisper-base.en`, `onnx-community/whisper-tiny.en_timestamped`, … */
function isEnglishOnly(repo: string): boolean {
  return /\.en(?:$|[_-])/i.test(repo.split('/').pop() ?? repo);
}

/**
 * One Whisper model. Constructing it reads nothing; `load()` fetches missing files from the
 * hub (when allowed), then imports onnxruntime and creates the sessions.
 */
export class WhisperBackend implements AsrBackend {
  readonly specificationVersion = 'v1';
  readonly modality = 'asr';
  /** One transcription at a time per model: each already uses every core. */
  readonly defaultConcurrency = 1;
  readonly #context: EngineContext<WhisperOptions>;
  #capabilities: AsrCapabilities;
  #loaded?: LoadedWhisper;

  constructor(context: EngineContext<WhisperOptions>) {
    this.#context = context;
    const { entry, options } = context;
    const englishOnly = isEnglishOnly(entry.repo);
    // Before the files are read, the repo name tells: `.en` models are English-only,
    // `_timestamped` exports have the cross-attention outputs word timings need.
    this.#capabilities = {
      wordTimestamps: options.wordTimestamps ?? /_timestamped/i.test(entry.repo),
      segmentTimestamps: true,
      streaming: false,
      translation: options.translation ?? !englishOnly,
      languages: entry.languages ?? (englishOnly ? ['en'] : WHISPER_LANGUAGES.slice(0, 99).map(([code]) => code)),
      longForm: false,
      // Refined at load() from the model's size (see engineOptions.maxBatchSize).
      maxBatchSize: options.maxBatchSize ?? DEFAULT_MAX_BATCH,
    };
  }

  get capabilities(): AsrCapabilities {
    return this.#capabilities;
  }

  get #where(): string {
    return this.#context.paths.modelDir;
  }

  async load(): Promise<void> {
    if (this.#loaded) return;
    const { options, modelId, entry, logger, signal } = this.#context;
    const missing = await missingFiles(this.#where, options.precision);
    if (missing.length > 0) {
      if (!options.download) {
        throw new SpeechError(
          'MODEL_UNAVAILABLE',
          `model '${modelId}' is not on disk (missing in ${this.#where}: ${missing.join(', ')}) and downloads are off for it; put the files of ${entry.repo} there, or set engineOptions.download to true`,
          { executor: 'whisper', model: modelId },
        );
      }
      const { downloadModel } = await import('./hub-download.js');
      await downloadModel({
        modelId,
        repo: entry.repo,
        revision: entry.revision,
        modelDir: this.#where,
        precision: options.precision,
        signal,
        logger,
      });
    }
    const { loadWhisper } = await import('./whisper-runtime.js');
    let loaded: LoadedWhisper;
    try {
      loaded = await loadWhisper(this.#where, modelId, options);
    } catch (cause) {
      throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}' failed to load from ${this.#where}: ${(cause as Error).message}`, {
        executor: 'whisper', model: modelId, cause,
      });
    }
    this.#loaded = loaded;
    this.#capabilities = {
      ...this.#capabilities,
      wordTimestamps: loaded.wordTimestamps,
      translation: loaded.translation,
      languages: entry.languages ?? loaded.languages,
      // An export with a fixed batch axis of 1 still answers transcribeBatch, one window per call.
      maxBatchSize: !loaded.sessions.dynamicBatch ? 1 : (options.maxBatchSize ?? defaultBatchSize(loaded.sessions.crossCacheBytes(loaded.files.config.maxSourcePositions))),
    };
    logger.debug({ precision: options.precision, wordTimestamps: loaded.wordTimestamps }, 'whisper model loaded');
  }

  async dispose(): Promise<void> {
    const loaded = this.#loaded;
    this.#loaded = undefined;
    await loaded?.release();
  }

  async transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    const loaded = this.#loaded;
    if (!loaded) throw this.#notLoaded();
    try {
      return await loaded.transcriber.transcribe(request);
    } catch (error) {
      throw this.#failure(error, request);
    }
  }

  /**
   * Several pieces in one batch (encoder runs and decoder steps shared, sequences leaving as
   * they end); result `i` is that of `transcribe(requests[i])`. Batches larger than
   * `capabilities.maxBatchSize` are decoded in groups of that size.
   */
  transcribeBatch(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>> {
    const loaded = this.#loaded;
    if (!loaded) return requests.map(() => Promise.reject(this.#notLoaded()));
    const results = loaded.transcriber.transcribeBatch(requests, this.#capabilities.maxBatchSize ?? 1);
    return results.map((result, index) => result.catch((error: unknown) => {
      throw this.#failure(error, requests[index]!);
    }));
  }

  #notLoaded(): SpeechError {
    return new SpeechError('MODEL_NOT_LOADED', `model '${this.#context.modelId}' is not loaded`, { executor: 'whisper', model: this.#context.modelId });
  }

  #failure(error: unknown, request: TranscribeRequest): SpeechError {
    if (SpeechError.is(error)) return error;
    if (request.signal.aborted) return new SpeechError('ABORTED', 'the transcription was cancelled', { cause: error });
    return new SpeechError('INFERENCE_FAILED', `whisper inference failed for model '${this.#context.modelId}': ${(error as Error).message}`, {
      executor: 'whisper', model: this.#context.modelId, cause: error,
    });
  }
}
