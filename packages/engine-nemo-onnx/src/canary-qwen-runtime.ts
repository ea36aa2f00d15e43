import type { NemoOptions } from './engine-options.js';
import type { LoadedNemoModel } from './nemo-backend.js';
export class CanaryQwenModel {
  static async load(_modelDir: string, _options: NemoOptions): Promise<LoadedNemoModel> {
    throw new Error('this version of @talkies/engine-nemo-onnx does not run this executor yet (only parakeet)');
  }
}
