import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { defineEngine } from '@talkies/core';
import { KokoroBackend } from './kokoro-backend.js';
import { kokoroOptionsSchema, type KokoroOptions } from './kokoro-options.js';
import { NVIDIA_MODEL_FILE, ONNX_COMMUNITY_DTYPES } from './model-layout.js';

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
    const options = (entry.engineOptions ?? {}) as KokoroOptions;
    const nvidia = (options.layout ?? (entry.executor === 'kokoro_nvidia' ? 'nvidia' : 'onnx-community')) === 'nvidia';
    const model = options.model ?? (nvidia ? NVIDIA_MODEL_FILE : `onnx/model${ONNX_COMMUNITY_DTYPES[options.dtype ?? 'fp32']}.onnx`);
    const required = nvidia ? [model, 'tokens.txt', 'voices.bin', 'voices.txt'] : [model, 'tokenizer.json', 'voices'];
    try {
      await Promise.all(required.map((file) => access(join(paths.modelDir, file))));
      return true;
    } catch {
      return false;
    }
  },
});

export { KokoroBackend } from './kokoro-backend.js';
export { kokoroOptionsSchema, type KokoroOptions } from './kokoro-options.js';
export { KOKORO_LANGUAGES, languageOfVoice, type KokoroLanguage } from './languages.js';
export { KOKORO_VOCABULARY } from './phoneme-vocabulary.js';
export { splitSentences } from './sentence-splitter.js';
export { normalizeEnglish } from './english-normalizer.js';
export { parseVoice, blendTables } from './voice-blend.js';
export { fadeJoins, JOIN_FADE_SECONDS } from './join-audio.js';
