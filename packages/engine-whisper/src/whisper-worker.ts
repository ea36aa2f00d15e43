/**
 * The worker thread of one Whisper model (the engine's default, `inferenceThread: worker`):
 * it loads the sessions, tokenizer and front end here and serves `transcribe` and
 * `transcribeBatch` through core's worker protocol, so that onnxruntime's runs (which
 * block the thread that calls them) never hold up the server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serveAsrWorker } from '@talkies/core';
import type { WhisperOptions } from './engine-options.js';
import { loadedFacts, loadWhisper, type LoadedFacts } from './whisper-runtime.js';

export interface WhisperWorkerSetup {
  modelDir: string;
  modelId: string;
  options: WhisperOptions;
}

const setup = workerData as WhisperWorkerSetup;

serveAsrWorker<LoadedFacts>(parentPort!, async () => {
  const loaded = await loadWhisper(setup.modelDir, setup.modelId, setup.options);
  const facts = loadedFacts(loaded, setup.options);
  return {
    info: facts,
    backend: {
      transcribe: (request) => loaded.transcriber.transcribe(request),
      transcribeBatch: (requests) => loaded.transcriber.transcribeBatch(requests, facts.maxBatchSize),
      dispose: () => loaded.release(),
    },
  };
});
