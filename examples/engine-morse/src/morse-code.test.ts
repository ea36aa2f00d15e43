import { describe, expect, it } from 'vitest';
import { morseCode, planMorse, splitAtWords } from './morse-code.js';

describe('planMorse', () => {
  it('times "PARIS" as the 43 units that, with the 7-unit word gap, define a word per minute', () => {
    const plan = planMorse('PARIS');
    expect(plan.units).toBe(43);
    expect(planMorse('paris paris').units).toBe(43 + 7 + 43);
  });

  it('sends S O S as three dots, three dashes, three dots with the standard gaps', () => {
    const pattern = planMorse('sos').elements.map((element) => (element.tone ? '#' : '_').repeat(element.units)).join('');
    expect(pattern).toBe('#_#_#___###_###_###___#_#_#');
  });

  it('drops what Morse code cannot send, and collapses runs of whitespace', () => {
    const plan = planMorse('  é  e\t\n~e ');
    expect(plan.unsupported).toEqual(['é', '~']);
    expect(plan.units).toBe(1 + 7 + 1);
    expect(planMorse('~~~').elements).toEqual([]);
  });

  it('knows letters in either case, digits and punctuation', () => {
    expect(morseCode('Q')).toBe(morseCode('q'));
    expect(morseCode('0')).toBe('-----');
    expect(morseCode('?')).toBe('..--..');
    expect(morseCode('constructor')).toBeUndefined();
  });
});

describe('splitAtWords', () => {
  it('cuts only after word gaps, and the pieces joined are the whole plan', () => {
    const { elements } = planMorse('the quick brown fox jumps over the lazy dog');
    const pieces = splitAtWords(elements, 40);
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.flat()).toEqual(elements);
    for (const piece of pieces.slice(0, -1)) expect(piece.at(-1)!.wordGap).toBe(true);
  });
});
