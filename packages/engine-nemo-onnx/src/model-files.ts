/**
 * The onnx-asr export layout (`istupakov/parakeet-tdt-0.6b-v3-onnx`,
 * `istupakov/canary-180m-flash-onnx`, …): which files a model family and precision need.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

export type Precision = 'fp32' | 'int8';
export type NemoFamily = 'parakeet' | 'canary_multitask' | 'canary_salm';

/** onnx-asr's quantisation suffix: `<name>.<q>.onnx`. */
export const PRECISION_SUFFIX: Record<Precision, string> = { fp32: '', int8: '.int8' };

export function graphFile(name: string, precision: Precision): string {
  return `${name}${PRECISION_SUFFIX[precision]}.onnx`;
}

/** The graphs of a family, without suffix. */
export function graphNames(family: NemoFamily): string[] {
  if (family === 'parakeet') return ['encoder-model', 'decoder_joint-model'];
  if (family === 'canary_multitask') return ['encoder-model', 'decoder-model'];
  return ['encoder-model', 'decoder-model', 'embed-tokens'];
}

/** Text files the model's repository has next to its graphs. */
export function textFiles(family: NemoFamily): string[] {
  return family === 'canary_salm' ? ['config.json'] : ['config.json', 'vocab.txt'];
}

/**
 * Files that come from the entry's `dependencies` repository: canary-qwen's tokenizer is
 * Qwen3-1.7B's (`Qwen/Qwen3-1.7B`), as in the Python talkies.
 */
export function dependencyFiles(family: NemoFamily): string[] {
  return family === 'canary_salm' ? ['tokenizer.json'] : [];
}

/** Files of the model's own repository a variant cannot run without (external data on top when the repository has them). */
export function repositoryFiles(family: NemoFamily, precision: Precision): string[] {
  return [...textFiles(family), ...graphNames(family).map((name) => graphFile(name, precision))];
}

/** Every file a variant cannot run without, the dependency's included. */
export function requiredFiles(family: NemoFamily, precision: Precision): string[] {
  return [...repositoryFiles(family, precision), ...dependencyFiles(family)];
}

/** Whether a repository path belongs to the variant: the text files, its graphs and their `.onnx.data` / `.onnx_data` weights. */
export function belongsToVariant(path: string, family: NemoFamily, precision: Precision): boolean {
  if (textFiles(family).includes(path)) return true;
  for (const name of graphNames(family)) {
    const graph = graphFile(name, precision);
    if (path === graph || path.startsWith(`${graph}.data`) || path.startsWith(`${graph}_data`)) return true;
  }
  return false;
}

/** Required files missing from `modelDir` (empty when the variant is complete). */
export async function missingFiles(modelDir: string, family: NemoFamily, precision: Precision): Promise<string[]> {
  const missing: string[] = [];
  for (const file of requiredFiles(family, precision)) {
    const present = await stat(join(modelDir, file)).then((info) => info.isFile() && info.size > 0, () => false);
    if (!present) missing.push(file);
  }
  return missing;
}
