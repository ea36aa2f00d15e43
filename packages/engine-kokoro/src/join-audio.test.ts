import { describe, expect, it } from 'vitest';
import { fadeJoins, JOIN_FADE_SECONDS } from './join-audio.js';

describe('joins without clicks', () => {
  const rate = 24000;
  const fade = Math.round(JOIN_FADE_SECONDS * rate);

  it('fades only the edges that meet another piece', () => {
    const piece = () => new Float32Array(1000).fill(0.5);
    expect(fadeJoins(piece(), rate, false, false)).toEqual(piece());
    const middle = fadeJoins(piece(), rate, true, true);
    expect(middle[0]).toBeLessThan(0.001);
    expect(middle[999]).toBeLessThan(0.001);
    expect(middle[fade]).toBe(0.5);
    expect(middle[999 - fade]).toBe(0.5);
    const first = fadeJoins(piece(), rate, false, true);
    expect(first[0]).toBe(0.5);
    expect(first[999]).toBeLessThan(0.001);
  });

  it('rises smoothly: no step between neighbouring samples is larger than the ramp allows', () => {
    const faded = fadeJoins(new Float32Array(1000).fill(1), rate, true, false);
    for (let index = 1; index < fade + 1; index++) expect(Math.abs(faded[index]! - faded[index - 1]!)).toBeLessThan(0.02);
  });

  it('handles pieces shorter than two fades', () => {
    const faded = fadeJoins(new Float32Array(10).fill(1), rate, true, true);
    expect(faded.every((sample) => sample <= 1 && sample >= 0)).toBe(true);
  });
});
