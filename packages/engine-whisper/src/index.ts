import { defineEngine, type DownloadOptions, type EngineContext } from '@talkies/core';
import { whisperOptionsSchema, type WhisperOptions } from './engine-options.js';
import type { DownloadSummary } from './hub-download.js';
import { missingFiles } from './model-files.js';
import { WhisperBackend } from './whisper-backend.js';

/**
 * Whisper on onnxruntime-node, for the onnx-community / Xenova ONNX exports. Importing this
 * module loads neither onnxruntime nor the hub client: `load()` and `download()` import them.
 */
export default defineEngine<WhisperOptions>({
  name: '@talkies/engine-whisper',
  executors: ['whisper'],
  coreRange: '^0.1.0',
  optionsSchema: whisperOptionsSchema,
  createBackend(context) {
    return new WhisperBackend(context);
  },
  async isDownloaded({ paths, entry }) {
    const parsed = whisperOptionsSchema.safeParse(entry.engineOptions ?? {});
    const precision = parsed.success ? parsed.data.precision : 'fp32';
    return (await missingFiles(paths.modelDir, precision)).length === 0;
  },
  /**
   * Fetches the files of the entry's precision variant from the hub (`HF_ENDPOINT`,
   * `HF_TOKEN`) into the model directory, without loading the model. `talkies pull` calls it.
   */
  async download(context: EngineContext<WhisperOptions>, options: DownloadOptions = {}): Promise<DownloadSummary> {
    const { downloadModel } = await import('./hub-download.js');
    return downloadModel({
      modelId: context.modelId,
      repo: context.entry.repo,
      revision: context.entry.revision,
      modelDir: context.paths.modelDir,
      precision: context.options.precision,
      signal: options.signal ?? context.signal,
      logger: context.logger,
      onProgress: options.onProgress,
    });
  },
});

export { WhisperBackend } from './whisper-backend.js';
export { whisperOptionsSchema, type WhisperOptions } from './engine-options.js';
export { PRECISION_SUFFIX, requiredFiles, belongsToVariant, type Precision } from './model-files.js';
export type { DownloadProgress, DownloadSummary } from './hub-download.js';
