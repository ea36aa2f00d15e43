/**
 * The layout of Whisper's added tokens after the text vocabulary, for multilingual models
 * (99 languages, or 100 for large-v3) and English-only ones. Ids are never hard-coded at
 * run time: the engine reads them from generation_config.json and tokenizer.json; this
 * layout is what the fixture generator writes, and a fallback for exports that lack keys.
 */
import { WHISPER_LANGUAGES } from './whisper-languages.js';

export interface SpecialTokenLayout {
  endOfText: number;
  startOfTranscript: number;
  /** `<|xx|>` → id, in model order. */
  languages: Map<string, number>;
  translate: number;
  transcribe: number;
  startOfLm: number;
  startOfPrevious: number;
  noSpeech: number;
  noTimestamps: number;
  timestampBegin: number;
  /** Total vocabulary size including the 1501 timestamps. */
  vocabularySize: number;
  /** Every added token, in id order: content and whether it is special. */
  added: Array<{ id: number; content: string; special: boolean }>;
}

/**
 * @param textTokens 50257 for multilingual models (the text vocabulary, `<|endoftext|>` excluded).
 * @param languageCount 99 (tiny … large-v2), 100 (large-v3), 0 for `.en` models.
 */
export function specialTokenLayout(textTokens: number, languageCount: number): SpecialTokenLayout {
  const added: SpecialTokenLayout['added'] = [];
  let next = textTokens;
  const push = (content: string, special = true): number => {
    added.push({ id: next, content, special });
    return next++;
  };
  const endOfText = push('<|endoftext|>');
  const startOfTranscript = push('<|startoftranscript|>');
  const languages = new Map<string, number>();
  for (const [code] of WHISPER_LANGUAGES.slice(0, languageCount)) languages.set(`<|${code}|>`, push(`<|${code}|>`));
  const translate = push('<|translate|>');
  const transcribe = push('<|transcribe|>');
  const startOfLm = push('<|startoflm|>');
  const startOfPrevious = push('<|startofprev|>');
  const noSpeech = push('<|nospeech|>');
  const noTimestamps = push('<|notimestamps|>');
  const timestampBegin = next;
  for (let index = 0; index <= 1500; index++) push(`<|${(index * 0.02).toFixed(2)}|>`, false);
  return {
    endOfText, startOfTranscript, languages, translate, transcribe, startOfLm, startOfPrevious, noSpeech, noTimestamps,
    timestampBegin, vocabularySize: next, added,
  };
}
