import { describe, expect, it } from 'vitest';
import { splitSentences } from './split-sentences.js';

describe('splitSentences', () => {
  it('splits after sentence punctuation followed by whitespace, keeping it', () => {
    expect(splitSentences('Hello there. How are you? Fine!  Good… ok')).toEqual(['Hello there.', 'How are you?', 'Fine!', 'Good…', 'ok']);
  });

  it('splits at line breaks and drops blank pieces', () => {
    expect(splitSentences('First line\nsecond line\n\n  third.\n')).toEqual(['First line', 'second line', 'third.']);
  });

  it('keeps numbers and dots inside words together', () => {
    expect(splitSentences('Version 1.5 costs $3.50 today.')).toEqual(['Version 1.5 costs $3.50 today.']);
  });

  it('splits after CJK full stops without a space', () => {
    expect(splitSentences('你好。今天好吗？好！')).toEqual(['你好。', '今天好吗？', '好！']);
  });

  it('gives nothing for blank text', () => {
    expect(splitSentences(' \n ')).toEqual([]);
  });
});
