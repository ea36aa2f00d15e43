/**
 * `config.json` of an onnx-asr export: `model_type`, `features_size` (80 or 128),
 * `subsampling_factor` (8), `max_tokens_per_step` (10), `max_sequence_length` (1024).
 * Missing keys take onnx-asr's defaults.
 */
import { z } from 'zod';

const configSchema = z
  .object({
    model_type: z.string().optional(),
    features_size: z.number().int().min(1).max(257).default(80),
    subsampling_factor: z.number().int().min(1).max(64).default(8),
    max_tokens_per_step: z.number().int().min(1).max(1000).default(10),
    max_sequence_length: z.number().int().min(2).max(1_000_000).default(1024),
  })
  .passthrough();

export interface NemoModelConfig {
  modelType?: string;
  melBins: number;
  subsampling: number;
  maxTokensPerStep: number;
  maxSequenceLength: number;
  /** Seconds per encoder frame: 10 ms hop × subsampling (80 ms for FastConformer). */
  frameSeconds: number;
}

export function parseModelConfig(text: string, source = 'config.json'): NemoModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new Error(`${source} is not valid JSON: ${(cause as Error).message}`);
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${source} is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  const config = parsed.data;
  return {
    modelType: config.model_type,
    melBins: config.features_size,
    subsampling: config.subsampling_factor,
    maxTokensPerStep: config.max_tokens_per_step,
    maxSequenceLength: config.max_sequence_length,
    frameSeconds: 0.01 * config.subsampling_factor,
  };
}
