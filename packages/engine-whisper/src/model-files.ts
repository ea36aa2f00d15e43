/**
 * Which files of an onnx-community Whisper repository a precision variant needs.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

export type Precision = 'fp32' | 'fp16' | 'q8' | 'q4';

/** onnx-community / transformers.js file-name suffixes. */
export const PRECISION_SUFFIX: Record<Precision, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', q4: '_q4' };

export const CONFIG_FILES = ['config.json', 'generation_config.json', 'preprocessor_config.json', 'tokenizer.json'] as const;
/** Fetched when the repository has them; not needed to run. */
export const OPTIONAL_FILES = ['tokenizer_config.json'] as const;

export function encoderFile(precision: Precision): string {
  return `onnx/encoder_model${PRECISION_SUFFIX[precision]}.onnx`;
}

export function decoderFile(precision: Precision): string {
  return `onnx/decoder_model_merged${PRECISION_SUFFIX[precision]}.onnx`;
}

/** The files a variant cannot run without (external-data files come on top when the repo has them). */
export function requiredFiles(precision: Precision): string[] {
  return [...CONFIG_FILES, encoderFile(precision), decoderFile(precision)];
}

/**
 * Whether a repository path belongs to the variant: the configs, its two graphs, and their
 * external data (`encoder_model.onnx_data`, `.onnx.data`, `_data_1`, …) for models over 2 GB.
 */
export function belongsToVariant(path: string, precision: Precision): boolean {
  if ((CONFIG_FILES as readonly string[]).includes(path) || (OPTIONAL_FILES as readonly string[]).includes(path)) return true;
  for (const graph of [encoderFile(precision), decoderFile(precision)]) {
    if (path === graph) return true;
    if (path.startsWith(`${graph}_data`) || path.startsWith(`${graph}.data`)) return true;
  }
  return false;
}

/** Required files missing from `modelDir` (empty when the variant is complete). */
export async function missingFiles(modelDir: string, precision: Precision): Promise<string[]> {
  const missing: string[] = [];
  for (const file of requiredFiles(precision)) {
    const present = await stat(join(modelDir, file)).then((info) => info.isFile() && info.size > 0, () => false);
    if (!present) missing.push(file);
  }
  return missing;
}
