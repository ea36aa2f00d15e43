import { describe, expect, it } from 'vitest';
import { boundaryIds, MAX_PHONEME_TOKENS, phonemesToIds, splitTokens, styleRow } from './phoneme-tokens.js';
import { KOKORO_VOCABULARY } from './phoneme-vocabulary.js';

const boundaries = boundaryIds(KOKORO_VOCABULARY);
const ids = (text: string) => phonemesToIds(text, KOKORO_VOCABULARY);
const text = (pieces: number[][]) => {
  const byId = new Map([...KOKORO_VOCABULARY].map(([character, id]) => [id, character]));
  return pieces.map((piece) => piece.map((id) => byId.get(id)).join(''));
};

describe('phoneme ids and the token limit', () => {
  it('maps one id per character and drops characters outside the vocabulary', () => {
    expect(ids('hə-lˈoʊ')).toEqual([50, 83, 54, 156, 57, 135]);
  });

  it('leaves a sequence within the limit whole', () => {
    expect(splitTokens(ids('abc, def.'), boundaries)).toEqual([ids('abc, def.')]);
    expect(splitTokens([], boundaries)).toEqual([]);
  });

  it('cuts after the last sentence mark that fits, then clause marks, then spaces, then anywhere', () => {
    expect(text(splitTokens(ids('aaa, bbb. ccc, ddd'), boundaries, 12))).toEqual(['aaa, bbb.', 'ccc, ddd']);
    expect(text(splitTokens(ids('aaa, bbb ccc ddd'), boundaries, 10))).toEqual(['aaa,', 'bbb ccc', 'ddd']);
    expect(text(splitTokens(ids('aaaa bbbb cccc'), boundaries, 9))).toEqual(['aaaa bbbb', 'cccc']);
    expect(text(splitTokens(ids('abcdefhijk'), boundaries, 4))).toEqual(['abcd', 'efhi', 'jk']);
  });

  it(`never makes a piece longer than ${MAX_PHONEME_TOKENS}`, () => {
    const long = ids(Array.from({ length: 200 }, (_, index) => (index % 7 === 6 ? 'wˈɜːdz,' : 'wˈɜːdz')).join(' '));
    const pieces = splitTokens(long, boundaries);
    expect(pieces.length).toBeGreaterThan(1);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThanOrEqual(MAX_PHONEME_TOKENS);
  });

  it('chooses the style row by length, as the reference does', () => {
    expect(styleRow(2, 510)).toBe(0);
    expect(styleRow(12, 510)).toBe(10);
    expect(styleRow(512, 510)).toBe(509);
    expect(styleRow(0, 510)).toBe(0);
  });
});
