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
    if (!loaded) {
      throw new SpeechError('MODEL_NOT_LOADED', `model '${this.#context.modelId}' is not loaded`, { executor: 'whisper', model: this.#context.modelId });
    }
    try {
      return await loaded.transcriber.transcribe(request);
    } catch (error) {
      if (SpeechError.is(error)) throw error;
      if (request.signal.aborted) throw new SpeechError('ABORTED', 'the transcription was cancelled', { cause: error });
      throw new SpeechError('INFERENCE_FAILED', `whisper inference failed for model '${this.#context.modelId}': ${(error as Error).message}`, {
        executor: 'whisper', model: this.#context.modelId, cause: error,
      });
    }
  }
}
