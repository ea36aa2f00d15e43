import { defineEngine, type DownloadOptions, type EngineContext } from '@talkies/core';
import type { DownloadSummary } from '@talkies/hub';
import { modeOf, Qwen3Backend } from './qwen3-backend.js';
import { downloadQwen3, missingFiles } from './model-download.js';
import { qwen3EntrySchema, qwen3OptionsSchema, type Qwen3Options } from './qwen3-options.js';

/**
 * Qwen3-TTS-12Hz (0.6B and 1.7B; Base, CustomVoice and VoiceDesign) through
 * onnxruntime-node, from the split ONNX export. Importing this module and creating
 * backends loads no onnxruntime and starts no thread: that happens in `load()`.
 */
export default defineEngine<Qwen3Options>({
  name: '@talkies/engine-qwen3-tts',
  executors: ['qwen3_tts'],
  coreRange: '^0.1.0',
  optionsSchema: qwen3OptionsSchema,
  entrySchema: qwen3EntrySchema,
  createBackend(context) {
    return new Qwen3Backend(context);
  },
  async isDownloaded({ modelId, entry, paths }) {
    const parsed = qwen3OptionsSchema.safeParse(entry.engineOptions ?? {});
    return (await missingFiles(paths.modelDir, modeOf({ modelId, entry }), parsed.success ? parsed.data : {})).length === 0;
  },
  /** Fetches the export's files for the entry's mode from the hub (`HF_ENDPOINT`, `HF_TOKEN`) without loading. */
  async download(context: EngineContext<Qwen3Options>, options: DownloadOptions = {}): Promise<DownloadSummary> {
    return downloadQwen3(context, options);
  },
});

export { Qwen3Backend, modeOf } from './qwen3-backend.js';
export { qwen3OptionsSchema, qwen3EntrySchema, samplingFieldsSchema, QWEN3_MODES, type Qwen3Options } from './qwen3-options.js';
export { qwen3FileSet } from './model-download.js';
export type { Qwen3Runtime, TalkerStep } from './runtime.js';
export type { Qwen3Mode, PromptPlan, PromptRow } from './prompt.js';
