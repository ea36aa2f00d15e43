import { describe, expect, it } from 'vitest';
import { NemoVocabulary, tidySpaces } from './nemo-vocabulary.js';

describe('vocab.txt', () => {
  const vocabulary = new NemoVocabulary(['<unk> 0', '▁ 1', '▁the 2', 'y 3', '. 4', '▁é 5', '<|en|> 6', "' 7", '▁ 8', '<blk> 9', ''].join('\n'));

  it('reads ids, the blank and a duplicated piece as its last id', () => {
    expect(vocabulary.size).toBe(10);
    expect(vocabulary.blank).toBe(9);
    expect(vocabulary.id('▁')).toBe(8);
  });

  it('decodes with onnx-asr’s spacing and drops special tokens', () => {
    expect(vocabulary.decode([1, 2, 3, 1, 4])).toBe('they.');
    expect(vocabulary.decode([6, 2, 5, 7, 2, 9])).toBe("the é' the");
    expect(tidySpaces(' a  b .')).toBe('a b.');
  });

  it('refuses a line that is not "<token> <id>" and a gap in the ids', () => {
    expect(() => new NemoVocabulary('▁a\n')).toThrow(/line 1/);
    expect(() => new NemoVocabulary('a 0\nb 2\n')).toThrow(/no token with id 1/);
  });
});
