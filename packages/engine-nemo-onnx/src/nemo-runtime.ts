/**
 * Opens a NeMo family's runtime (sessions, vocabulary, front end) on the calling thread:
 * the backend's own thread with `inferenceThread: 'main'`, the model's worker thread
 * otherwise (nemo-worker.ts). Imported lazily: it pulls in onnxruntime.
 */
import type { ModelEntry, TranscribeRequest, TranscriptionResult } from '@talkies/core';
import type { NemoOptions } from './engine-options.js';
import type { NemoFamily } from './model-files.js';

/** What a family's runtime gives the backend once loaded. */
export interface LoadedNemoModel {
  transcribe(request: TranscribeRequest): Promise<TranscriptionResult>;
  /** Parakeet: greedy TDT over several pieces in one decoder-joint call per step. */
  transcribeBatch?(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>>;
  release(): Promise<void>;
}

export async function loadNemoRuntime(family: NemoFamily, modelDir: string, options: NemoOptions, entry: ModelEntry): Promise<LoadedNemoModel> {
  if (family === 'parakeet') {
    const { ParakeetModel } = await import('./parakeet-runtime.js');
    return ParakeetModel.load(modelDir, options);
  }
  if (family === 'canary_multitask') {
    const { CanaryModel } = await import('./canary-runtime.js');
    return CanaryModel.load(modelDir, options, entry);
  }
  const { CanaryQwenModel } = await import('./canary-qwen-runtime.js');
  return CanaryQwenModel.load(modelDir, options);
}
