import {
  AsrWorkerClient,
  builtWorkerUrl,
  SpeechError,
  type AsrBackend,
  type AsrCapabilities,
  type EngineContext,
  type TranscribeRequest,
  type TranscriptionResult,
} from '@talkies/core';
import type { WhisperOptions } from './engine-options.js';
import { missingFiles } from './model-files.js';
import type { LoadedFacts } from './whisper-runtime.js';
import { WHISPER_LANGUAGES } from './whisper-languages.js';
import type { WhisperWorkerSetup } from './whisper-worker.js';

/** A loaded model, on this thread or in a worker. */
interface LoadedModel {
  facts: LoadedFacts;
  transcribe(request: TranscribeRequest): Promise<TranscriptionResult>;
  transcribeBatch(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>>;
  release(): Promise<void>;
}

/** Batch size declared before the model is loaded (refined at load). */
const DEFAULT_MAX_BATCH = 8;

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
  #loaded?: LoadedModel;

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
    let loaded: LoadedModel;
    try {
      loaded = options.inferenceThread === 'main' ? await this.#loadHere() : await this.#loadInWorker();
    } catch (cause) {
      throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}' failed to load from ${this.#where}: ${(cause as Error).message}`, {
        executor: 'whisper', model: modelId, cause,
      });
    }
    this.#loaded = loaded;
    const { facts } = loaded;
    this.#capabilities = {
      ...this.#capabilities,
      wordTimestamps: facts.wordTimestamps,
      translation: facts.translation,
      languages: entry.languages ?? facts.languages,
      maxBatchSize: facts.maxBatchSize,
    };
    logger.debug({ precision: options.precision, wordTimestamps: facts.wordTimestamps, inferenceThread: options.inferenceThread }, 'whisper model loaded');
  }

  /** The sessions on this thread. */
  async #loadHere(): Promise<LoadedModel> {
    const { options, modelId } = this.#context;
    const { loadWhisper, loadedFacts } = await import('./whisper-runtime.js');
    const loaded = await loadWhisper(this.#where, modelId, options);
    const facts = loadedFacts(loaded, options);
    return {
      facts,
      transcribe: (request) => loaded.transcriber.transcribe(request),
      transcribeBatch: (requests) => loaded.transcriber.transcribeBatch(requests, facts.maxBatchSize),
      release: () => loaded.release(),
    };
  }

  /** The sessions in a worker thread of their own ({@link serveAsrWorker} there). */
  async #loadInWorker(): Promise<LoadedModel> {
    const { options, modelId } = this.#context;
    const { Worker } = await import('node:worker_threads');
    const setup: WhisperWorkerSetup = { modelDir: this.#where, modelId, options };
    const client = await AsrWorkerClient.start<LoadedFacts>(new Worker(builtWorkerUrl(import.meta.url, 'whisper-worker.js'), { workerData: setup }), { executor: 'whisper', model: modelId });
    return {
      facts: client.info,
      transcribe: (request) => client.transcribe(request),
      transcribeBatch: (requests) => client.transcribeBatch(requests),
      release: () => client.close(),
    };
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
      return await loaded.transcribe(request);
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
    const results = loaded.transcribeBatch(requests);
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
