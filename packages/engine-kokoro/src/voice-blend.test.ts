import { describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { blendTables, parseVoice } from './voice-blend.js';

describe('voice names and blends', () => {
  it('parses a voice, an equal blend and a weighted blend', () => {
    expect(parseVoice('af_heart', 'm')).toEqual([{ name: 'af_heart', weight: 1 }]);
    expect(parseVoice('af_bella+af_sky', 'm')).toEqual([{ name: 'af_bella', weight: 1 }, { name: 'af_sky', weight: 1 }]);
    expect(parseVoice(' af_bella(2) + af_sky(0.5) ', 'm')).toEqual([{ name: 'af_bella', weight: 2 }, { name: 'af_sky', weight: 0.5 }]);
  });

  it('refuses malformed blends with a 400 that shows the syntax', () => {
    for (const voice of ['af_bella+', 'af_bella(0)', 'af_bella(x)', '+af_sky', 'af bella']) {
      let error: unknown;
      try {
        parseVoice(voice, 'm');
      } catch (caught) {
        error = caught;
      }
      expect(SpeechError.is(error) && error.status === 400 && /af_bella\(2\)\+af_sky\(1\)/.test(error.message), voice).toBe(true);
    }
  });

  it('mixes tables by normalised weight', () => {
    const a = Float32Array.of(1, 2);
    const b = Float32Array.of(4, 8);
    expect(blendTables([a, b], [1, 1])).toEqual(Float32Array.of(2.5, 5));
    expect(blendTables([a, b], [2, 1])).toEqual(Float32Array.of(2, 4));
    expect(blendTables([a], [3])).toBe(a);
  });
});
