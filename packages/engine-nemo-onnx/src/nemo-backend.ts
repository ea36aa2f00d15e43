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
import type { NemoOptions } from './engine-options.js';
import { missingFiles, type NemoFamily } from './model-files.js';
import { defaultLanguages } from './nemo-languages.js';
import type { LoadedNemoModel } from './nemo-runtime.js';
import type { NemoWorkerSetup } from './nemo-worker.js';

export type { LoadedNemoModel } from './nemo-runtime.js';

export const FAMILIES: readonly NemoFamily[] = ['parakeet', 'canary_multitask', 'canary_salm'];

/** Pieces Parakeet prefers per batch: the VAD chunker's groups, and a batch across requests. */
export const PARAKEET_BATCH_SIZE = 8;

export function familyOf(executor: string): NemoFamily {
  if ((FAMILIES as readonly string[]).includes(executor)) return executor as NemoFamily;
  throw new SpeechError('EXECUTOR_NOT_FOUND', `@talkies/engine-nemo-onnx serves ${FAMILIES.join(', ')}, not '${executor}'`, { executor });
}

/**
 * One NeMo model (Parakeet TDT, Canary AED or canary-qwen). Constructing it reads nothing;
 * `load()` fetches missing files from the hub (when allowed), then opens the family's
 * runtime (onnxruntime sessions, vocabulary, front end) in a worker thread of its own, or on
 * this thread with `inferenceThread: 'main'`.
 */
export class NemoBackend implements AsrBackend {
  readonly specificationVersion = 'v1';
  readonly modality = 'asr';
  /** One transcription at a time per model: each already uses every core. */
  readonly defaultConcurrency = 1;
  readonly family: NemoFamily;
  readonly capabilities: AsrCapabilities;
  /** Parakeet only (see {@link AsrBackend.transcribeBatch}); absent for Canary and canary-qwen. */
  readonly transcribeBatch?: (requests: readonly TranscribeRequest[]) => Array<Promise<TranscriptionResult>>;
  readonly #context: EngineContext<NemoOptions>;
  #loaded?: LoadedNemoModel;

  constructor(context: EngineContext<NemoOptions>) {
    this.#context = context;
    const { entry } = context;
    this.family = familyOf(entry.executor);
    this.capabilities = {
      // Parakeet's transducer times every token; Canary and canary-qwen have no timestamps of
      // their own: their segments span the pieces the VAD chunker cuts.
      wordTimestamps: this.family === 'parakeet',
      segmentTimestamps: true,
      streaming: false,
      // Canary translates X→en (and en→X through default_task slugs); Parakeet and canary-qwen only transcribe.
      translation: this.family === 'canary_multitask',
      languages: entry.languages ?? defaultLanguages(this.family, entry.repo),
      longForm: false,
      ...(this.family === 'parakeet' ? { maxBatchSize: PARAKEET_BATCH_SIZE } : {}),
    };
    if (this.family === 'parakeet') this.transcribeBatch = (requests) => this.#transcribeBatch(requests);
  }

  get #where(): string {
    return this.#context.paths.modelDir;
  }

  async load(): Promise<void> {
    if (this.#loaded) return;
    const { options, modelId, entry, logger, signal } = this.#context;
    const missing = await missingFiles(this.#where, this.family, options.precision);
    if (missing.length > 0) {
      if (!options.download) {
        throw new SpeechError(
          'MODEL_UNAVAILABLE',
          `model '${modelId}' is not on disk (missing in ${this.#where}: ${missing.join(', ')}) and downloads are off for it; put the files of ${entry.repo} there, or set engineOptions.download to true`,
          { executor: this.family, model: modelId },
        );
      }
      const { downloadModel } = await import('./hub-download.js');
      await downloadModel({
        modelId, repo: entry.repo, revision: entry.revision, modelDir: this.#where,
        family: this.family, precision: options.precision, dependencies: entry.dependencies, signal, logger,
      });
    }
    try {
      this.#loaded = await this.#loadRuntime();
    } catch (cause) {
      throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}' failed to load from ${this.#where}: ${(cause as Error).message}`, {
        executor: this.family, model: modelId, cause,
      });
    }
    logger.debug({ precision: options.precision, family: this.family, inferenceThread: options.inferenceThread }, 'nemo model loaded');
  }

  async #loadRuntime(): Promise<LoadedNemoModel> {
    const { options, entry } = this.#context;
    if (options.inferenceThread === 'main') {
      const { loadNemoRuntime } = await import('./nemo-runtime.js');
      return loadNemoRuntime(this.family, this.#where, options, entry);
    }
    return this.#loadInWorker();
  }

  /** The runtime in a worker thread of its own ({@link serveAsrWorker} there). */
  async #loadInWorker(): Promise<LoadedNemoModel> {
    const { options, entry, modelId } = this.#context;
    const { Worker } = await import('node:worker_threads');
    const setup: NemoWorkerSetup = { family: this.family, modelDir: this.#where, options, entry };
    const client = await AsrWorkerClient.start<null>(new Worker(builtWorkerUrl(import.meta.url, 'nemo-worker.js'), { workerData: setup }), { executor: this.family, model: modelId });
    return {
      transcribe: (request) => client.transcribe(request),
      // Several requests sent together reach the runtime's transcribeBatch in the worker (Parakeet only).
      ...(this.family === 'parakeet' ? { transcribeBatch: (requests: readonly TranscribeRequest[]) => client.transcribeBatch(requests) } : {}),
      release: () => client.close(),
    };
  }

  async dispose(): Promise<void> {
    const loaded = this.#loaded;
    this.#loaded = undefined;
    await loaded?.release();
  }

  /** A 400 that lists the model's languages, before any audio is decoded. */
  #checkLanguage(language: string | undefined): void {
    const { languages } = this.capabilities;
    if (language === undefined || languages === 'any' || languages.includes(language)) return;
    throw new SpeechError(
      'INVALID_REQUEST',
      `model '${this.#context.modelId}' does not support language '${language}'; it supports: ${languages.join(', ')}`,
      { param: 'language', executor: this.family, model: this.#context.modelId },
    );
  }

  /** The loaded model, after the request's own checks (not loaded 503, language 400, translate 400). */
  #admit(request: TranscribeRequest): LoadedNemoModel {
    const loaded = this.#loaded;
    const modelId = this.#context.modelId;
    if (!loaded) throw new SpeechError('MODEL_NOT_LOADED', `model '${modelId}' is not loaded`, { executor: this.family, model: modelId });
    this.#checkLanguage(request.language);
    if (request.task === 'translate' && !this.capabilities.translation) {
      throw new SpeechError('UNSUPPORTED_CAPABILITY', `model '${modelId}' cannot translate`, { param: 'model', executor: this.family, model: modelId });
    }
    return loaded;
  }

  /** The runtime's answer with the ignored options noted, its failures as SpeechErrors. */
  async #finish(request: TranscribeRequest, running: Promise<TranscriptionResult>): Promise<TranscriptionResult> {
    const modelId = this.#context.modelId;
    try {
      const result = await running;
      if (request.prompt || request.temperature) {
        result.warnings = [...(result.warnings ?? []), `the ${this.family} engine ignores ${[request.prompt ? 'prompt' : '', request.temperature ? 'temperature' : ''].filter(Boolean).join(' and ')} (greedy decoding, no text prompt)`];
      }
      return result;
    } catch (error) {
      // A run cut short by the abort may fail in onnxruntime instead: from the worker, that is an INFERENCE_FAILED.
      if (SpeechError.is(error) && !(request.signal.aborted && error.code === 'INFERENCE_FAILED')) throw error;
      if (request.signal.aborted) throw new SpeechError('ABORTED', 'the transcription was cancelled', { cause: error });
      throw new SpeechError('INFERENCE_FAILED', `${this.family} inference failed for model '${modelId}': ${(error as Error).message}`, {
        executor: this.family, model: modelId, cause: error,
      });
    }
  }

  async transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    const loaded = this.#admit(request);
    return this.#finish(request, loaded.transcribe(request));
  }

  /** Each request is checked on its own: one that fails its checks rejects alone, the rest decode together. */
  #transcribeBatch(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>> {
    const admitted: Array<{ index: number; loaded: LoadedNemoModel }> = [];
    const results: Array<Promise<TranscriptionResult>> = requests.map((request, index) => {
      try {
        admitted.push({ index, loaded: this.#admit(request) });
        return undefined as never;
      } catch (error) {
        return Promise.reject(error);
      }
    });
    const loaded = admitted[0]?.loaded;
    if (!loaded) return results;
    const batch = admitted.map(({ index }) => requests[index]!);
    const running = loaded.transcribeBatch ? loaded.transcribeBatch(batch) : batch.map((request) => loaded.transcribe(request));
    admitted.forEach(({ index }, position) => {
      results[index] = this.#finish(requests[index]!, running[position]!);
    });
    return results;
  }
}
