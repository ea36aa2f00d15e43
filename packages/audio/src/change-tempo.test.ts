import { describe, expect, it } from 'vitest';
import { atempoFilter, changeTempo } from './change-tempo.js';

describe('changeTempo', () => {
  it('chains atempo stages to stay within 0.5 to 2', () => {
    expect(atempoFilter(1.5)).toBe('atempo=1.500000');
    expect(atempoFilter(4)).toBe('atempo=2.000000,atempo=2.000000');
    expect(atempoFilter(0.25)).toBe('atempo=0.500000,atempo=0.500000');
    expect(atempoFilter(0.3)).toBe('atempo=0.500000,atempo=0.600000');
  });

  it('stretches and squeezes the audio', async () => {
    const samples = new Float32Array(22050);
    for (let index = 0; index < samples.length; index++) samples[index] = 0.3 * Math.sin(index / 5);
    const slower = await changeTempo({ samples, sampleRate: 22050 }, 0.25);
    expect(slower.sampleRate).toBe(22050);
    expect(slower.samples.length / samples.length).toBeGreaterThan(3.8);
    expect(slower.samples.length / samples.length).toBeLessThan(4.2);
    const faster = await changeTempo({ samples, sampleRate: 22050 }, 2);
    expect(faster.samples.length / samples.length).toBeCloseTo(0.5, 1);
    expect(await changeTempo({ samples, sampleRate: 22050 }, 1)).toEqual({ samples, sampleRate: 22050 });
  });
});
