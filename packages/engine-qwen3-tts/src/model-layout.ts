/**
 * The file layout the engine reads: the split ONNX export of Qwen3-TTS-12Hz whose graphs
 * and tensor names the zhangluoyang/Qwen3-TTS-12Hz-1.7B-ONNX export scripts define (also
 * used by the zukky/Qwen3-TTS-ONNX-DLL 0.6B exports), next to the checkpoint's own
 * tokenizer files and config.json. docs/qwen3-tts-export.md has the recipe for a
 * checkpoint without a public export.
 */
import { join } from 'node:path';

export const GRAPHS = {
  textProject: 'text_project.onnx',
  codecEmbed: 'codec_embed.onnx',
  predictorEmbed: 'code_predictor_embed.onnx',
  talkerPrefill: 'talker_prefill.onnx',
  talkerDecode: 'talker_decode.onnx',
  predictor: 'code_predictor.onnx',
  codecDecode: 'tokenizer12hz_decode.onnx',
  speakerEncoder: 'speaker_encoder.onnx',
  codecEncode: 'tokenizer12hz_encode.onnx',
} as const;

export type GraphName = keyof typeof GRAPHS;

export const TEXT_FILES = ['config.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json'] as const;

/** The graphs every mode runs; base checkpoints add the speaker encoder (x-vector) and the codec encoder (ICL). */
export function requiredGraphs(mode: 'base' | 'custom_voice' | 'voice_design'): GraphName[] {
  const common: GraphName[] = ['textProject', 'codecEmbed', 'predictorEmbed', 'talkerPrefill', 'talkerDecode', 'predictor', 'codecDecode'];
  return mode === 'base' ? [...common, 'speakerEncoder', 'codecEncode'] : common;
}

/** Absolute paths of a model directory's graphs (`onnxDir` is the folder inside it that holds them). */
export function graphPaths(modelDir: string, onnxDir = ''): Record<GraphName, string> {
  return Object.fromEntries(Object.entries(GRAPHS).map(([name, file]) => [name, join(modelDir, onnxDir, file)])) as Record<GraphName, string>;
}
