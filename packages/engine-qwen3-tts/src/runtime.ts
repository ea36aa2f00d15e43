/**
 * The seam between generation and whatever runs the graphs. Generation (prompt
 * embedding, the talker loop, the 15-step code predictor, sampling, chunked codec
 * decoding) talks only to this interface, so a native runtime — the ONNX Runtime C API
 * through koffi, with IOBinding, static KV buffers and CUDA graphs — can replace the
 * onnxruntime-node sessions on a GPU without touching the rest.
 *
 * All embeddings are flat float32 rows of `hiddenSize`. The talker's KV cache belongs to
 * the runtime: {@link Qwen3Runtime.talkerPrefill} starts a sequence, {@link
 * Qwen3Runtime.talkerDecode} extends it by one position.
 */
export interface TalkerStep {
  /** Logits of the last position over the talker vocabulary (codebook 0 and control tokens). */
  logits: Float32Array;
  /** The last position's hidden state (the code predictor's first input row). */
  hidden: Float32Array;
}

export interface Qwen3Runtime {
  readonly hiddenSize: number;
  /** Text ids through the text embedding and its projection to the talker's width. */
  embedText(ids: readonly number[]): Promise<Float32Array>;
  /** Codec-track ids (codebook 0, control tokens, preset speakers) through the talker's codec embedding. */
  embedCodec(ids: readonly number[]): Promise<Float32Array>;
  /** Code `code` of codebook `group + 1` through the code predictor's embedding for that group. */
  embedPredictorCode(code: number, group: number): Promise<Float32Array>;
  /** Runs the prompt (`length` rows) from an empty cache. */
  talkerPrefill(embeds: Float32Array, length: number): Promise<TalkerStep>;
  /** Runs one more position on the cached sequence. */
  talkerDecode(embed: Float32Array): Promise<TalkerStep>;
  /** Logits of codebook `group + 1` (0 ≤ group < 15) after the predictor's `length` input rows. */
  predictorLogits(embeds: Float32Array, length: number, group: number): Promise<Float32Array>;
  /** Codec frames (`frames` × code groups, frame-major) to 24 kHz samples. */
  decodeCodes(codes: Int32Array, frames: number): Promise<Float32Array>;
  /** Base checkpoints: an x-vector from a 128-bin log-mel of 24 kHz audio (`frames` × 128). */
  speakerEmbedding?(mel: Float32Array, frames: number): Promise<Float32Array>;
  /** Base checkpoints: 24 kHz audio to codec frames (frame-major), for in-context cloning. */
  encodeAudio?(samples: Float32Array): Promise<{ codes: Int32Array; frames: number }>;
  /** Releases every session. */
  release(): Promise<void>;
}
