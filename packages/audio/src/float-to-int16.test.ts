import { describe, expect, it } from 'vitest';
import { floatToInt16, floatToInt16Into, int16ToFloat } from './float-to-int16.js';

/** The conversion as first written, with Math.round: the faster one must match it exactly. */
function reference(samples: Float32Array): Int16Array {
  const output = new Int16Array(samples.length);
  for (let index = 0; index < samples.length; index++) {
    const sample = samples[index]!;
    if (sample >= 1) output[index] = 32767;
    else if (sample <= -1) output[index] = -32768;
    else if (sample < 0) output[index] = Math.round(sample * 32768);
    else output[index] = Math.round(sample * 32767) || 0;
  }
  return output;
}

/** The float32 values `steps` ulps either side of `value` (rounded to float32 first), by bit pattern. */
function neighbours(value: number, steps: number): number[] {
  const float = new Float32Array([value]);
  const bits = new Int32Array(float.buffer);
  const centre = bits[0]!;
  const result: number[] = [];
  for (let step = -steps; step <= steps; step++) {
    bits[0] = centre + step;
    result.push(float[0]!);
  }
  return result;
}

describe('floatToInt16Into', () => {
  it('rounds like Math.round at every rounding boundary of the 16-bit range', () => {
    const values: number[] = [];
    for (let level = -32768; level < 32767; level++) {
      // Where the result steps from `level` to `level + 1`, for the negative and the positive scale.
      for (const scale of [32768, 32767]) values.push(...neighbours((level + 0.5) / scale, 3));
    }
    const samples = Float32Array.from(values);
    const output = new Int16Array(samples.length);
    floatToInt16Into(samples, output);
    expect(output).toEqual(reference(samples));
  });

  it('clamps and maps the special values as before', () => {
    const specials = [NaN, 0, -0, 1, -1, 2, -2, Infinity, -Infinity, 1e-45, -1e-45, 1e-30, -1e-30, ...neighbours(1, 2), ...neighbours(-1, 2)];
    const samples = Float32Array.from(specials);
    const output = floatToInt16(samples);
    expect(Array.from(output)).toEqual(Array.from(reference(samples)));
    expect(Array.from(output.slice(0, 9))).toEqual([0, 0, 0, 32767, -32768, 32767, -32768, 32767, -32768]);
  });

  it('matches on every value int16ToFloat makes, and on a second of noise', () => {
    const all = new Int16Array(65536);
    for (let index = 0; index < all.length; index++) all[index] = index - 32768;
    const decoded = int16ToFloat(all);
    expect(floatToInt16(decoded)).toEqual(reference(decoded));
    let state = 12345;
    const noise = new Float32Array(48000);
    for (let index = 0; index < noise.length; index++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      noise[index] = (state / 2 ** 32) * 2.4 - 1.2;
    }
    expect(floatToInt16(noise)).toEqual(reference(noise));
  });
});
