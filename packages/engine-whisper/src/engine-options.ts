import { z } from 'zod';

/** `engineOptions` of a Whisper entry in models.json. */
export const whisperOptionsSchema = z
  .object({
    /**
     * Which ONNX files to use, as onnx-community names them: fp32 `encoder_model.onnx`, fp16
     * `_fp16`, q8 `_quantized` (8-bit dynamic quantisation), q4 `_q4`.
     */
    precision: z.enum(['fp32', 'fp16', 'q8', 'q4']).default('fp32'),
    /** 1 is greedy decoding; more is beam search with that many beams (OpenAI uses 5). */
    beamSize: z.number().int().min(1).max(16).default(1),
    /**
     * openai/whisper's fallback: when a window's text compresses too well (repetition) or its
     * average log-probability is too low, decode it again at a higher temperature.
     */
    temperatureFallback: z.boolean().default(true),
    compressionRatioThreshold: z.number().positive().default(2.4),
    logprobThreshold: z.number().default(-1),
    noSpeechThreshold: z.number().min(0).max(1).default(0.6),
    /** Feed the text of earlier windows of the same audio as the prompt of the next one. */
    conditionOnPreviousText: z.boolean().default(false),
    /** Latest first timestamp allowed, in seconds (Whisper: 1.0). */
    maxInitialTimestamp: z.number().min(0).max(30).default(1),
    /** Seed of the sampler used at temperatures above 0 (runs are repeatable). */
    seed: z.number().int().default(0),
    /** onnxruntime intra-op threads; default: one per physical core (core's `defaultInferenceThreads`). */
    threads: z.number().int().min(1).max(1024).optional(),
    /**
     * Where onnxruntime runs: `worker` (default), a worker thread per model, so a long
     * encoder pass never blocks the server's event loop (onnxruntime-node runs a session
     * on the calling thread); `main`, on the thread that calls the backend (embedding in a
     * script, profiling).
     */
    inferenceThread: z.enum(['worker', 'main']).default('worker'),
    /** onnxruntime execution provider. */
    executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
    /** Override what the capabilities say before the model is loaded (normally derived from the repo name and files). */
    wordTimestamps: z.boolean().optional(),
    translation: z.boolean().optional(),
    /**
     * Most pieces decoded together in one batch (several chunks of a long recording, or
     * pieces other requests sent at the same time): one encoder run and one decoder step
     * serve them all. Default: up to 8, fewer for large models, so that a full batch's
     * cross-attention cache stays under 1 GiB. 1 turns batching off.
     */
    maxBatchSize: z.number().int().min(1).max(64).optional(),
    /** Download missing files from the Hugging Face hub when the model loads. */
    download: z.boolean().default(true),
  })
  .strict();

export type WhisperOptions = z.output<typeof whisperOptionsSchema>;
