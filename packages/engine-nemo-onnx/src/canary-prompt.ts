/**
 * The Canary decoder prompt in onnx-asr's form of NeMo's canary2 format: ten tokens,
 *
 *     ▁  <|startofcontext|>  <|startoftranscript|>  <|emo:undefined|>  <|src|>  <|tgt|>
 *     <|pnc|> or <|nopnc|>  <|noitn|>  <|notimestamp|>  <|nodiarize|>
 *
 * where the first is the id of the bare space piece (the aggregate tokenizer has one per
 * language; onnx-asr's piece → id map keeps the last). Translation is a target language that
 * differs from the source; there is no task token.
 */
import type { NemoVocabulary } from './nemo-vocabulary.js';

export interface CanaryPromptOptions {
  sourceLanguage: string;
  targetLanguage: string;
  punctuation: boolean;
}

export function canaryPromptPieces(options: CanaryPromptOptions): string[] {
  return [
    '\u2581',
    '<|startofcontext|>',
    '<|startoftranscript|>',
    '<|emo:undefined|>',
    `<|${options.sourceLanguage}|>`,
    `<|${options.targetLanguage}|>`,
    options.punctuation ? '<|pnc|>' : '<|nopnc|>',
    '<|noitn|>',
    '<|notimestamp|>',
    '<|nodiarize|>',
  ];
}

export function canaryPrompt(vocabulary: NemoVocabulary, options: CanaryPromptOptions): number[] {
  const pieces = canaryPromptPieces(options);
  const missing = pieces.filter((piece) => vocabulary.id(piece) === undefined);
  if (missing.length > 0) throw new Error(`vocab.txt has no ${missing.join(', ')}, which the Canary prompt needs`);
  return pieces.map((piece) => vocabulary.id(piece)!);
}

