import { describe, expect, it } from 'vitest';
import { canaryPrompt, canaryPromptPieces } from './canary-prompt.js';
import { NemoVocabulary } from './nemo-vocabulary.js';
import { canaryVocabulary, vocabularyText } from './testing/vocabulary-files.js';

describe('the Canary prompt', () => {
  const { pieces } = canaryVocabulary(['en', 'de', 'es', 'fr'], 50);
  const vocabulary = new NemoVocabulary(vocabularyText(pieces));

  it('is onnx-asr’s ten tokens, with the last bare space piece of the aggregate vocabulary', () => {
    const spaces = pieces.flatMap((piece, id) => (piece === '\u2581' ? [id] : []));
    expect(spaces).toHaveLength(4);
    const ids = canaryPrompt(vocabulary, { sourceLanguage: 'de', targetLanguage: 'en', punctuation: true });
    // Looked up by hand in the vocabulary the fixture writes (specials first, then <|en|> <|de|> <|es|> <|fr|>).
    expect(ids).toEqual([spaces.at(-1), 7, 4, 16, 22, 21, 5, 9, 11, 13]);
    expect(ids.map((id) => pieces[id])).toEqual(['\u2581', '<|startofcontext|>', '<|startoftranscript|>', '<|emo:undefined|>', '<|de|>', '<|en|>', '<|pnc|>', '<|noitn|>', '<|notimestamp|>', '<|nodiarize|>']);
    expect(canaryPromptPieces({ sourceLanguage: 'fr', targetLanguage: 'fr', punctuation: false })[6]).toBe('<|nopnc|>');
  });

  it('names what the vocabulary lacks', () => {
    expect(() => canaryPrompt(vocabulary, { sourceLanguage: 'ja', targetLanguage: 'en', punctuation: true })).toThrow(/no <\|ja\|>/);
  });
});
