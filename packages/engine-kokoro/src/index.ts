import { defineEngine, type DownloadOptions, type EngineContext } from '@talkies/core';
import type { DownloadSummary } from '@talkies/hub';
import { KokoroBackend } from './kokoro-backend.js';
import { kokoroOptionsSchema, type KokoroOptions } from './kokoro-options.js';
import { downloadKokoro, missingFiles } from './model-download.js';

/**
 * Kokoro-82M through onnxruntime-node, for both snapshot layouts: `kokoro` (the
 * onnx-community export) and `kokoro_nvidia` (nvidia/kokoro-82M-onnx-opt). Importing this
 * module and creating backends loads no onnxruntime, starts no thread and spawns nothing:
 * that all happens in `load()`.
 */
export default defineEngine<KokoroOptions>({
  name: '@talkies/engine-kokoro',
  executors: ['kokoro', 'kokoro_nvidia'],
  coreRange: '^0.1.0',
  optionsSchema: kokoroOptionsSchema,
  createBackend(context) {
    return new KokoroBackend(context);
  },
  async isDownloaded({ entry, paths }) {
    const parsed = kokoroOptionsSchema.safeParse(entry.engineOptions ?? {});
    return (await missingFiles(paths.modelDir, entry, parsed.success ? parsed.data : {})).length === 0;
  },
  /**
   * Fetches the files the entry's layout reads (the model variant, its vocabulary and the
   * catalog voices) from the hub (`HF_ENDPOINT`, `HF_TOKEN`) into the model directory,
   * without loading the model. `talkies pull` calls it; `load()` does the same when files are missing.
   */
  async download(context: EngineContext<KokoroOptions>, options: DownloadOptions = {}): Promise<DownloadSummary> {
    return downloadKokoro(context, options);
  },
});

export { KokoroBackend } from './kokoro-backend.js';
export { kokoroFileSet, type KokoroFileSet } from './model-download.js';
export type { DownloadProgress, DownloadSummary } from '@talkies/hub';
export { kokoroOptionsSchema, type KokoroOptions } from './kokoro-options.js';
export { KOKORO_LANGUAGES, languageOfVoice, type KokoroLanguage } from './languages.js';
export { KOKORO_VOCABULARY } from './phoneme-vocabulary.js';
export { splitSentences } from './sentence-splitter.js';
export { normalizeEnglish } from './english-normalizer.js';
export { parseVoice, blendTables } from './voice-blend.js';
export { fadeJoins, JOIN_FADE_SECONDS } from './join-audio.js';
