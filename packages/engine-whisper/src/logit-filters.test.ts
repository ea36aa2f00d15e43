import { describe, expect, it } from 'vitest';
import { seededRandom } from '@talkies/core';
import { logSumExp, sumOfExponentials } from './logit-filters.js';

/** The same sum with Math.exp, in the same order. */
function reference(values: Float32Array, maximum: number): number {
  let sum = 0;
  for (const value of values) if (value > maximum - 50) sum += Math.exp(value - maximum);
  return sum;
}

describe('sumOfExponentials', () => {
  it('is within a few ulp of Math.exp for every offset below the maximum', () => {
    const one = new Float32Array(1);
    let worst = 0;
    for (let step = 0; step < 200_000; step++) {
      one[0] = -step / 4000; // 0 down to −50, every float32 spacing range on the way
      const fast = sumOfExponentials(one, 0);
      const exact = Math.exp(one[0]!);
      if (exact > 0 && one[0]! > -50) worst = Math.max(worst, Math.abs(fast - exact) / exact);
    }
    expect(worst).toBeLessThan(4 * Number.EPSILON);
  });

  it('gives the log-sum-exp of vocabulary-sized rows as Math.exp does, to the last bits', () => {
    const random = seededRandom(7);
    for (let row = 0; row < 20; row++) {
      const values = Float32Array.from({ length: 51_865 }, () => (random() - 0.5) * (10 + row * 5));
      let maximum = -Infinity;
      for (const value of values) maximum = Math.max(maximum, value);
      const expected = maximum + Math.log(reference(values, maximum));
      expect(Math.abs(logSumExp(values) - expected)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(expected));
      expect(logSumExp(values, maximum)).toBe(logSumExp(values));
    }
  });

  it('skips −∞, NaN and terms 50 or more below the maximum, and gives −∞ for a row of −∞', () => {
    const values = Float32Array.from([3, -Infinity, Number.NaN, 3 - 50, 3 - 60, 2]);
    expect(sumOfExponentials(values, 3)).toBeCloseTo(1 + Math.exp(-1), 15);
    expect(logSumExp(Float32Array.from([-Infinity, -Infinity]))).toBe(-Infinity);
    expect(logSumExp(Float32Array.of(1.5))).toBe(1.5);
  });
});
