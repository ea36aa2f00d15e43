/**
 * @talkies-example/engine-morse: the engine that docs/add-an-engine.md walks through. It
 * speaks text as Morse code through a small ONNX model on onnxruntime-node.
 *
 * This module is imported at boot and by `talkies models`, so it stays cheap: zod, core's
 * helper and the backend factory. onnxruntime-node and the hub client are imported on
 * first use (load() and download()).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { defineEngine, type EngineContext } from '@talkies/core';
import { z } from 'zod';
import { MODEL_FILES } from './model-files.js';
import { createMorseBackend } from './morse-backend.js';

/** `engineOptions`: knobs of this engine that models.json may set per model. */
export const morseOptionsSchema = z
  .object({
    /** onnxruntime's intra-op threads for one request. */
    threads: z.number().int().min(1, 'threads must be between 1 and 16').max(16, 'threads must be between 1 and 16').default(1),
  })
  .strict();

/** The engine's own top-level fields of a models.json entry. */
export const morseFieldsSchema = z
  .object({
    /** Sending speed at `speed: 1`; a request's `speed` multiplies it. */
    words_per_minute: z
      .number({ error: 'words_per_minute must be a number between 5 and 60' })
      .min(5, 'words_per_minute must be between 5 and 60')
      .max(60, 'words_per_minute must be between 5 and 60')
      .default(20),
  })
  .strict();

export type MorseOptions = z.output<typeof morseOptionsSchema>;
export type MorseFields = z.output<typeof morseFieldsSchema>;
export type MorseContext = EngineContext<MorseOptions, MorseFields>;

export { MODEL_FILES } from './model-files.js';
export { VOICES } from './morse-backend.js';

/** Fetches the model's files into its directory; shared by `talkies pull` and load(). */
export async function downloadMorseModel(
  context: Pick<MorseContext, 'modelId' | 'entry' | 'paths' | 'logger'>,
  options: { signal?: AbortSignal; onProgress?(progress: { file: string; received: number; total: number; done: boolean }): void } = {},
) {
  // The hub client is only needed by a pull or a first load, never at boot.
  const { downloadRepoFiles } = await import('@talkies/hub');
  return downloadRepoFiles({
    modelId: context.modelId,
    repo: context.entry.repo,
    revision: context.entry.revision,
    modelDir: context.paths.modelDir,
    logger: context.logger,
    signal: options.signal,
    onProgress: options.onProgress,
    select: MODEL_FILES,
    required: MODEL_FILES,
    executor: 'morse',
  });
}

export default defineEngine<MorseOptions, MorseFields>({
  name: '@talkies-example/engine-morse',
  executors: ['morse'],
  coreRange: '^0.1.0',
  optionsSchema: morseOptionsSchema,
  entrySchema: morseFieldsSchema,
  createBackend: (context) => createMorseBackend(context, downloadMorseModel),
  download: (context, options) => downloadMorseModel(context, options),
  async isDownloaded(context) {
    try {
      await Promise.all(MODEL_FILES.map((file) => access(join(context.paths.modelDir, file))));
      return true;
    } catch {
      return false;
    }
  },
});
