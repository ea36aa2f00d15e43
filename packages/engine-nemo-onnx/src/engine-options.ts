import { z } from 'zod';

/** `engineOptions` of a Parakeet or Canary entry in models.json. */
export const nemoOptionsSchema = z
  .object({
    /**
     * Which ONNX files to use, as onnx-asr names them: fp32 `encoder-model.onnx` (with its
     * `.onnx.data` external weights when the repository has them), int8
     * `encoder-model.int8.onnx`. onnx-asr measured int8 slower than fp32 for Parakeet on x64
     * and faster for Canary.
     */
    precision: z.enum(['fp32', 'int8']).default('fp32'),
    /** TDT: tokens one encoder frame may emit before decoding moves on (config.json, else 10). */
    maxTokensPerStep: z.number().int().min(1).max(100).optional(),
    /** Canary: punctuation and capitalisation (`<|pnc|>` or `<|nopnc|>` in the prompt). */
    pnc: z.boolean().default(true),
    /** Canary and canary-qwen: the most tokens a transcription may have, prompt included (config.json, else 1024). */
    maxSequenceLength: z.number().int().min(16).max(65536).optional(),
    /** onnxruntime intra-op threads; default: one per physical core (core's `defaultInferenceThreads`). */
    threads: z.number().int().min(1).max(1024).optional(),
    /**
     * Where the model runs: `worker` (default), a worker thread per model, so that neither
     * the log-mel front end nor an encoder pass (onnxruntime-node runs a session on the
     * calling thread) blocks the server's event loop; `main`, on the thread that calls the
     * backend (embedding in a script, profiling).
     */
    inferenceThread: z.enum(['worker', 'main']).default('worker'),
    /** onnxruntime execution provider. */
    executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
    /** Download missing files from the Hugging Face hub when the model loads. */
    download: z.boolean().default(true),
  })
  .strict();

export type NemoOptions = z.output<typeof nemoOptionsSchema>;
