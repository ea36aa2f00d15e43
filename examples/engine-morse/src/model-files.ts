/**
 * The file layout of a Morse tone model as published in its repository (and as it lies
 * in `$TALKIES_DATA_DIR/models/<slug>`): the ONNX graph and a config.json.
 */
import { z } from 'zod';

export const MODEL_FILE = 'morse.onnx';
export const CONFIG_FILE = 'config.json';
export const MODEL_FILES = [MODEL_FILE, CONFIG_FILE] as const;

/** config.json: what the graph was exported with. */
export const modelConfigSchema = z.object({
  /** Samples per second of the graph's `waveform` output. */
  sample_rate: z.number().int().min(8000).max(48000),
});

export type ModelConfig = z.infer<typeof modelConfigSchema>;
