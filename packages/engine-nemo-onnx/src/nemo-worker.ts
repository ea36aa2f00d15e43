/**
 * The worker thread of one NeMo model (the engine's default, `inferenceThread: worker`): it
 * opens the family's runtime here (onnxruntime sessions, vocabulary, log-mel front end) and
 * serves `transcribe`, and Parakeet's `transcribeBatch`, through core's worker protocol, so
 * that neither the front end nor onnxruntime's runs (which block the thread that calls them)
 * hold up the server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serveAsrWorker, type ModelEntry } from '@talkies/core';
import type { NemoOptions } from './engine-options.js';
import type { NemoFamily } from './model-files.js';
import { loadNemoRuntime } from './nemo-runtime.js';

export interface NemoWorkerSetup {
  family: NemoFamily;
  modelDir: string;
  options: NemoOptions;
  entry: ModelEntry;
}

const setup = workerData as NemoWorkerSetup;

serveAsrWorker<null>(parentPort!, async () => {
  const loaded = await loadNemoRuntime(setup.family, setup.modelDir, setup.options, setup.entry);
  return {
    info: null,
    backend: {
      transcribe: (request) => loaded.transcribe(request),
      ...(loaded.transcribeBatch ? { transcribeBatch: (requests) => loaded.transcribeBatch!(requests) } : {}),
      dispose: () => loaded.release(),
    },
  };
});
