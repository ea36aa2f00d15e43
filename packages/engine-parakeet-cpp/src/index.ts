import { z } from 'zod';
import { defineEngine, type DownloadOptions, type EngineContext } from '@talkies/core';
import type { DownloadSummary } from '@talkies/hub';
import { parakeetOptionsSchema, type ParakeetOptions } from './engine-options.js';
import { checkGgufFile, localGguf } from './model-files.js';
import { ParakeetCppBackend } from './parakeet-backend.js';

/**
 * parakeet.cpp (libparakeet, a ggml runtime) through its C API with koffi. Importing this
 * module loads neither koffi nor the library: `load()` does.
 */
export default defineEngine<ParakeetOptions>({
  name: '@talkies/engine-parakeet-cpp',
  executors: ['parakeet_cpp'],
  coreRange: '^0.1.0',
  optionsSchema: parakeetOptionsSchema,
  // The seed's models.json names the GGUF at the top level of the entry.
  entrySchema: z.object({ gguf_file: z.string().min(1, 'gguf_file must name a .gguf file in the repository').optional() }),
  createBackend(context) {
    return new ParakeetCppBackend(context);
  },
  async isDownloaded({ paths, entry, modelId }) {
    return (await localGguf(paths.modelDir, checkGgufFile(entry, modelId))) !== undefined;
  },
  /** Fetches the entry's GGUF (only that file) from the hub into the model directory; `talkies pull` calls it. */
  async download(context: EngineContext<ParakeetOptions>, options: DownloadOptions = {}): Promise<DownloadSummary> {
    const { downloadGguf } = await import('./model-files.js');
    return downloadGguf({
      modelId: context.modelId,
      repo: context.entry.repo,
      revision: context.entry.revision,
      modelDir: context.paths.modelDir,
      ggufFile: checkGgufFile(context.entry, context.modelId),
      signal: options.signal ?? context.signal,
      logger: context.logger,
      onProgress: options.onProgress,
    });
  },
});

export { ParakeetCppBackend } from './parakeet-backend.js';
export { parakeetOptionsSchema, type ParakeetOptions } from './engine-options.js';
export { SEGMENT_GAP_SECONDS } from './parakeet-result.js';
