import { describe, expect, it } from 'vitest';
import { splitSentences } from './sentence-splitter.js';

describe('sentence splitting for streaming', () => {
  it('splits at terminators followed by whitespace and keeps closing quotes', () => {
    expect(splitSentences('Hello there. How are you? "Fine!" she said. Done')).toEqual([
      'Hello there.',
      'How are you?',
      '"Fine!" she said.',
      'Done',
    ]);
  });

  it('does not split after abbreviations, initials, decimals or before lowercase', () => {
    expect(splitSentences('Mr. Smith paid 3.50 to J. K. Rowling. e.g. this one. Then more.')).toEqual([
      'Mr. Smith paid 3.50 to J. K. Rowling. e.g. this one.',
      'Then more.',
    ]);
  });

  it('keeps quoted and bracketed sentences together, splits at line breaks and runs of terminators', () => {
    expect(splitSentences('He said "Stop. Now." and left (really. truly).\nNext line?! Yes...')).toEqual([
      'He said "Stop. Now." and left (really. truly).',
      'Next line?!',
      'Yes...',
    ]);
  });

  it('does not split numbered list items, and splits Hindi at the danda', () => {
    expect(splitSentences('1. First item\n2. Second item')).toEqual(['1. First item', '2. Second item']);
    expect(splitSentences('नमस्ते दुनिया। आप कैसे हैं?')).toEqual(['नमस्ते दुनिया।', 'आप कैसे हैं?']);
  });

  it('returns nothing for blank text', () => {
    expect(splitSentences('  \n ')).toEqual([]);
  });
});
