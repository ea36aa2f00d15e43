import { describe, expect, it } from 'vitest';
import { seededRandom } from '@talkies/core';
import { applyRepetitionPenalty, sample } from './sampler.js';

const settings = { doSample: true, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1 };

describe('sampling', () => {
  it('greedy takes the arg-max and draws nothing', () => {
    let draws = 0;
    expect(sample(Float32Array.of(0, 3, 1), { ...settings, doSample: false }, () => (draws++, 0.5))).toBe(1);
    expect(sample(Float32Array.of(0, 3, 1), { ...settings, temperature: 0 }, () => (draws++, 0.5))).toBe(1);
    expect(draws).toBe(0);
  });

  it('top-k 1 and a tiny top-p both keep only the best id', () => {
    const random = seededRandom(3);
    for (let index = 0; index < 20; index++) {
      expect(sample(Float32Array.of(1, 2, 1.9), { ...settings, topK: 1 }, random)).toBe(1);
      expect(sample(Float32Array.of(1, 2, 1.9), { ...settings, topP: 0.01 }, random)).toBe(1);
    }
  });

  it('draws in proportion to the softmax', () => {
    const random = seededRandom(7);
    const counts = [0, 0];
    for (let index = 0; index < 4000; index++) counts[sample(Float32Array.of(0, Math.log(3)), settings, random)]!++;
    expect(counts[1]! / 4000).toBeGreaterThan(0.72);
    expect(counts[1]! / 4000).toBeLessThan(0.78);
  });

  it('never draws a masked id', () => {
    const random = seededRandom(9);
    for (let index = 0; index < 200; index++) expect(sample(Float32Array.of(-Infinity, 0, -Infinity, 0), settings, random) % 2).toBe(1);
  });

  it('repetition penalty divides positive and multiplies negative logits of ids seen before', () => {
    const logits = Float32Array.of(2, -2, 2);
    applyRepetitionPenalty(logits, [0, 1, 0], 2);
    expect(Array.from(logits)).toEqual([1, -4, 2]);
  });
});
