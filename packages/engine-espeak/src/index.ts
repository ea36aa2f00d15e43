import { defineEngine } from '@talkies/core';
import { EspeakBackend } from './espeak-backend.js';

/**
 * The built-in text-to-speech engine: the system `espeak-ng` program, run as a separate
 * process per request. Importing this module and creating backends spawns nothing.
 */
export default defineEngine({
  name: '@talkies/engine-espeak',
  executors: ['espeak'],
  coreRange: '^0.1.0',
  createBackend(context) {
    return new EspeakBackend(context);
  },
  // Nothing to download: the voices come with the espeak-ng package.
  async isDownloaded() {
    return true;
  },
});

export { EspeakBackend } from './espeak-backend.js';
export { OPENAI_VOICE_ALIASES } from './openai-voice-aliases.js';
export { splitSentences } from './split-sentences.js';
