import { describe, expect, it } from 'vitest';
import { SentenceBuffer } from './wyoming-sentences.js';

describe('SentenceBuffer', () => {
  it('releases each sentence once it is complete, whatever the pieces', () => {
    const buffer = new SentenceBuffer();
    expect(buffer.push('Hel')).toEqual([]);
    expect(buffer.push('lo there. How a')).toEqual(['Hello there.']);
    expect(buffer.push('re you?')).toEqual([]);
    expect(buffer.push(' Fine! "Quoted." Next')).toEqual(['How are you?', 'Fine!', '"Quoted."']);
    expect(buffer.push(' line\nand 3.')).toEqual(['Next line']);
    expect(buffer.push('5 more')).toEqual([]);
    expect(buffer.flush()).toBe('and 3.5 more');
    expect(buffer.flush()).toBe('');
  });

  it('handles CJK punctuation and drops blank pieces', () => {
    const buffer = new SentenceBuffer();
    expect(buffer.push('你好。再见！')).toEqual(['你好。', '再见！']);
    expect(buffer.push('\n\n   \n')).toEqual([]);
    expect(buffer.flush()).toBe('');
  });

  it('cuts a long run without a sentence end at a space, and a run without spaces at the limit', () => {
    const buffer = new SentenceBuffer(20);
    expect(buffer.push('one two three four five six seven')).toEqual(['one two three four']);
    expect(buffer.length).toBeLessThanOrEqual(20);
    expect(buffer.push('x'.repeat(45))).toEqual(['five six', `seven${'x'.repeat(15)}`, 'x'.repeat(20)]);
    expect(buffer.flush()).toBe('x'.repeat(10));
  });
});
