/**
 * Real-looking SentencePiece vocabularies for the generated models: `<unk>`, whole words
 * and word starts marked with `▁` (U+2581), word pieces, letters and punctuation, from the
 * languages the models cover, then `<blk>` last for transducers. Random weights make random
 * text, but the text is made of plausible pieces, so word and segment building meet what
 * they meet on real output.
 */
const MARK = '\u2581';

const WORDS = [
  'the', 'and', 'of', 'to', 'in', 'is', 'that', 'it', 'was', 'for', 'on', 'are', 'as', 'with', 'his', 'they', 'at', 'be', 'this',
  'have', 'from', 'or', 'one', 'had', 'by', 'word', 'but', 'not', 'what', 'all', 'were', 'we', 'when', 'your', 'can', 'said',
  'there', 'use', 'each', 'which', 'she', 'do', 'how', 'their', 'if', 'will', 'up', 'other', 'about', 'out', 'many', 'then',
  'them', 'these', 'so', 'some', 'her', 'would', 'make', 'like', 'him', 'into', 'time', 'has', 'look', 'two', 'more', 'write',
  'go', 'see', 'number', 'no', 'way', 'could', 'people', 'my', 'than', 'first', 'water', 'been', 'call', 'who', 'its', 'now',
  'find', 'long', 'down', 'day', 'did', 'get', 'come', 'made', 'may', 'part', 'country', 'ask', 'fellow', 'americans',
  'der', 'die', 'und', 'ist', 'nicht', 'ein', 'eine', 'das', 'mit', 'sich', 'auf', 'für', 'von', 'dem', 'den', 'wir', 'sie',
  'le', 'la', 'les', 'et', 'est', 'un', 'une', 'des', 'pas', 'que', 'qui', 'dans', 'pour', 'avec', 'nous', 'vous', 'très',
  'el', 'los', 'las', 'es', 'en', 'por', 'con', 'una', 'para', 'como', 'pero', 'más', 'muy', 'sí', 'también', 'año',
  'il', 'di', 'che', 'non', 'per', 'sono', 'della', 'het', 'een', 'van', 'niet', 'och', 'att', 'jag', 'som', 'nie', 'się',
];
const SUFFIXES = ['s', 'ed', 'ing', 'er', 'ly', 'tion', 'en', 'es', 'ung', 'ent', 'ons', 'ar', 'ão', 'ità', 'ität', 'ción', 'é', 'ü', 'ñ'];
const PUNCTUATION = ['.', ',', '?', '!', "'", '-'];
const CONSONANTS = 'bcdfghjklmnprstvwz';
const VOWELS = 'aeiou';

/** `size` distinct pieces (no `<blk>`), deterministic. */
export function sentencePieces(size: number, specials: readonly string[] = ['<unk>']): string[] {
  const pieces: string[] = [...specials];
  const seen = new Set(pieces);
  const add = (piece: string) => {
    if (pieces.length < size && !seen.has(piece)) {
      seen.add(piece);
      pieces.push(piece);
    }
  };
  add(MARK);
  for (const word of WORDS) add(MARK + word);
  for (const mark of PUNCTUATION) add(mark);
  for (const letter of 'abcdefghijklmnopqrstuvwxyz') add(letter);
  for (const letter of 'abcdefghijklmnopqrstuvwxyz') add(MARK + letter);
  for (const suffix of SUFFIXES) add(suffix);
  // Syllables, as word starts and as pieces inside words, until the size is reached.
  outer: for (let length = 1; ; length++) {
    for (const first of CONSONANTS) {
      for (const vowel of VOWELS) {
        for (const last of length > 1 ? CONSONANTS : ['']) {
          add(MARK + first + vowel + last);
          add(first + vowel + last);
          if (pieces.length >= size) break outer;
        }
      }
    }
    if (length > 3) break;
  }
  for (let index = 0; pieces.length < size; index++) add(`${MARK}w${index}`);
  return pieces;
}

export function vocabularyText(pieces: readonly string[]): string {
  return pieces.map((piece, id) => `${piece} ${id}`).join('\n') + '\n';
}

/** A transducer vocabulary: `pieces` SentencePiece pieces, then `<blk>` with id `pieces`. */
export function transducerVocabularyText(pieces: number): string {
  return vocabularyText([...sentencePieces(pieces), '<blk>']);
}

/** Canary flash's special tokens, in the order of the aggregate tokenizer, before the languages. */
export const CANARY_SPECIALS = [
  '<unk>', '<|nospeech|>', '<pad>', '<|endoftext|>', '<|startoftranscript|>', '<|pnc|>', '<|nopnc|>', '<|startofcontext|>',
  '<|itn|>', '<|noitn|>', '<|timestamp|>', '<|notimestamp|>', '<|diarize|>', '<|nodiarize|>', '<|spkchange|>', '<|audioseparator|>',
  '<|emo:undefined|>', '<|emo:neutral|>', '<|emo:happy|>', '<|emo:sad|>', '<|emo:angry|>',
];

export interface CanaryVocabulary {
  pieces: string[];
  /** Where the language sub-vocabularies (plain text pieces) begin, and how many pieces they hold. */
  textStart: number;
  textCount: number;
}

/**
 * An aggregate Canary vocabulary: the specials, a `<|xx|>` token per language, then one
 * SentencePiece sub-vocabulary per language (each with its own bare `▁`), as the flash
 * models' aggregate tokenizer has; onnx-asr's export adds `<blk>` last.
 */
export function canaryVocabulary(languages: readonly string[], piecesPerLanguage: number): CanaryVocabulary {
  const pieces = [...CANARY_SPECIALS, ...languages.map((language) => `<|${language}|>`)];
  const textStart = pieces.length;
  for (const _language of languages) pieces.push(...sentencePieces(piecesPerLanguage, []));
  const textCount = pieces.length - textStart;
  pieces.push('<blk>');
  return { pieces, textStart, textCount };
}
