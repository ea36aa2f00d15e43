import { describe, expect, it } from 'vitest';
import { stitchLongAudio } from './long-audio-stitch.js';

describe('stitchLongAudio', () => {
  it('shifts, clamps, renumbers and joins', () => {
    const result = stitchLongAudio(
      [
        {
          start: 0.5,
          end: 10,
          result: {
            text: ' Hello there. ',
            language: 'en',
            segments: [
              { id: 3, seek: 0, start: 0, end: 4, text: ' Hello' },
              { id: 4, seek: 0, start: 4, end: 12, text: ' there.' },
            ],
            words: [{ word: 'Hello', start: 0.2, end: 0.9, confidence: 0.8 }],
          },
        },
        { start: 12, end: 20, result: { text: '', segments: [], words: [] } },
        {
          start: 20,
          end: 25,
          result: { text: 'Bye.', language: 'de', segments: [{ id: 0, start: 1, end: 2, text: ' Bye.' }], words: [], warnings: ['w'] },
        },
      ],
      24.5,
    );
    expect(result).toEqual({
      text: 'Hello there. Bye.',
      language: 'en',
      duration: 24.5,
      segments: [
        { id: 0, seek: 50, start: 0.5, end: 4.5, text: ' Hello' },
        { id: 1, seek: 50, start: 4.5, end: 10, text: ' there.' },
        { id: 2, start: 21, end: 22, text: ' Bye.' },
      ],
      words: [{ word: 'Hello', start: 0.7, end: 1.4, confidence: 0.8 }],
      warnings: ['w'],
    });
  });

  it('keeps a requested language and clamps into the duration', () => {
    const result = stitchLongAudio([{ start: 5, end: 12, result: { text: 'x', language: 'en', segments: [{ id: 0, start: 6, end: 9, text: 'x' }], words: [] } }], 10, 'fr');
    expect(result.language).toBe('fr');
    expect(result.segments[0]).toMatchObject({ start: 10, end: 10 });
  });
});
