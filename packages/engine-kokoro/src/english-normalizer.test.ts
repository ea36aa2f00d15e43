import { describe, expect, it } from 'vitest';
import { normalizeEnglish, normalizeGeneric } from './english-normalizer.js';

describe('English normalisation (Kokoro reference rules)', () => {
  const cases: Array<[string, string]> = [
    ['Dr. Who met Mr. Smith and Mrs. Jones.', 'Doctor Who met Mister Smith and Mrs Jones.'],
    ['In 1990, 1905, 1900 and the 1980s', 'In 19 90, 19 oh 5, 19 hundred and the 19 80s'],
    ['in 2005 and 1066 and 999', 'in 2005 and 1066 and 999'],
    ['at 9:05 or 10:00 or 11:30', "at 9 oh 5 or 10 o'clock or 11 30"],
    ['$3.50 and $1 and £2.01 and $5 million', '3 dollars and 50 cents and 1 dollar and 2 pounds and 1 penny and 5 million dollars'],
    ['1,250 items, 3.14 and .5', '1250 items, 3 point 1 4 and  point 5'],
    ['pages 3-4', 'pages 3 to 4'],
    ['yeah, sure', "ye'a, sure"],
    ['the U.S. army and CDs', 'the U-S- army and CD\'S'],
    ['(aside) “quoted” ‘single’', '«aside» "quoted" \'single\''],
    ['a  b   c', 'a b   c'],
    ['apples, pears, etc.', 'apples, pears, etc'],
    // The reference's rule is case-insensitive, so any following word keeps the full stop.
    ['etc. and more', 'etc. and more'],
  ];
  for (const [input, expected] of cases) {
    it(input, () => {
      expect(normalizeEnglish(input)).toBe(expected);
    });
  }

  it('leaves numbers to espeak-ng in other languages', () => {
    expect(normalizeGeneric('Cuesta $3.50 en 1990. «Hola»')).toBe('Cuesta $3.50 en 1990. "Hola"');
  });
});
