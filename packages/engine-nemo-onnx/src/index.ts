import { defineEngine, type DownloadOptions, type EngineContext } from '@talkies/core';
import { nemoOptionsSchema, type NemoOptions } from './engine-options.js';
import type { DownloadSummary } from './hub-download.js';
import { missingFiles } from './model-files.js';
import { familyOf, NemoBackend } from './nemo-backend.js';

/**
 * NVIDIA NeMo speech models on onnxruntime-node, for the onnx-asr export layout: Parakeet
 * TDT (`parakeet`), Canary AED (`canary_multitask`) and canary-qwen (`canary_salm`).
 * Importing this module loads neither onnxruntime nor the hub client: `load()` and
 * `download()` import them.
 */
export default defineEngine<NemoOptions>({
  name: '@talkies/engine-nemo-onnx',
  executors: ['parakeet', 'canary_multitask', 'canary_salm'],
  coreRange: '^0.1.0',
  optionsSchema: nemoOptionsSchema,
  createBackend(context) {
    return new NemoBackend(context);
  },
  async isDownloaded({ paths, entry }) {
    const parsed = nemoOptionsSchema.safeParse(entry.engineOptions ?? {});
    const precision = parsed.success ? parsed.data.precision : 'fp32';
    return (await missingFiles(paths.modelDir, familyOf(entry.executor), precision)).length === 0;
  },
  /**
   * Fetches the files of the entry's family and precision from the hub (`HF_ENDPOINT`,
   * `HF_TOKEN`) into the model directory, without loading the model. `talkies pull` calls it.
   */
  async download(context: EngineContext<NemoOptions>, options: DownloadOptions = {}): Promise<DownloadSummary> {
    const { downloadModel } = await import('./hub-download.js');
    return downloadModel({
      modelId: context.modelId,
      repo: context.entry.repo,
      revision: context.entry.revision,
      modelDir: context.paths.modelDir,
      family: familyOf(context.entry.executor),
      precision: context.options.precision,
      dependencies: context.entry.dependencies,
      signal: options.signal ?? context.signal,
      logger: context.logger,
      onProgress: options.onProgress,
    });
  },
});

export { NemoBackend } from './nemo-backend.js';
export { nemoOptionsSchema, type NemoOptions } from './engine-options.js';
export { requiredFiles, belongsToVariant, PRECISION_SUFFIX, type Precision, type NemoFamily } from './model-files.js';
export { EUROPEAN_LANGUAGES, CANARY_FLASH_LANGUAGES } from './nemo-languages.js';
export type { DownloadProgress, DownloadSummary } from './hub-download.js';
