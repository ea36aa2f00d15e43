import type { ModelEntry } from '@talkies/core';
import type { NemoOptions } from './engine-options.js';
import type { LoadedNemoModel } from './nemo-backend.js';
export class CanaryModel {
  static async load(_modelDir: string, _options: NemoOptions, _entry: ModelEntry): Promise<LoadedNemoModel> {
    throw new Error('this version of @talkies/engine-nemo-onnx does not run this executor yet (only parakeet)');
  }
}
