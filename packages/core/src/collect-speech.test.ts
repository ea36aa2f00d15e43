import { describe, expect, it } from 'vitest';
import type { SpeechAudio } from './backend.js';
import { collectSpeech, joinSamples } from './collect-speech.js';
import { SpeechError } from './speech-error.js';

async function* blocksOf(...blocks: SpeechAudio[]): AsyncGenerator<SpeechAudio> {
  for (const block of blocks) yield block;
}

describe('joinSamples', () => {
  it('puts the parts one after the other in a new array, empty ones included', () => {
    const first = Float32Array.of(0.5, -0.25);
    const joined = joinSamples([first, new Float32Array(0), Float32Array.of(1), Float32Array.of(-1, 0)]);
    expect(Array.from(joined)).toEqual([0.5, -0.25, 1, -1, 0]);
    expect(joinSamples([])).toEqual(new Float32Array(0));
    // A copy even of one part: writing to it leaves the part alone.
    const alone = joinSamples([first]);
    alone[0] = 9;
    expect(first[0]).toBe(0.5);
  });

  it('reads views at their own offset, not their buffer', () => {
    const buffer = Float32Array.of(1, 2, 3, 4, 5, 6);
    expect(Array.from(joinSamples([buffer.subarray(4), buffer.subarray(1, 3)]))).toEqual([5, 6, 2, 3]);
  });
});

describe('collectSpeech', () => {
  it('joins the blocks of a stream into one clip at their rate', async () => {
    const clip = await collectSpeech(blocksOf({ samples: Float32Array.of(1, 2), sampleRate: 24000 }, { samples: Float32Array.of(3), sampleRate: 24000 }), 16000);
    expect(clip.sampleRate).toBe(24000);
    expect(Array.from(clip.samples)).toEqual([1, 2, 3]);
  });

  it('hands a single block back without a copy, and an empty stream as silence at the given rate', async () => {
    const only = Float32Array.of(0.1, 0.2);
    expect((await collectSpeech(blocksOf({ samples: only, sampleRate: 22050 }), 16000)).samples).toBe(only);
    const empty = await collectSpeech(blocksOf(), 16000);
    expect(empty).toEqual({ samples: new Float32Array(0), sampleRate: 16000 });
  });

  it('refuses a stream whose sample rate changes', async () => {
    const changing = collectSpeech(blocksOf({ samples: Float32Array.of(1), sampleRate: 24000 }, { samples: Float32Array.of(2), sampleRate: 22050 }), 16000);
    await expect(changing).rejects.toBeInstanceOf(SpeechError);
    await expect(collectSpeech(blocksOf({ samples: Float32Array.of(1), sampleRate: 24000 }, { samples: Float32Array.of(2), sampleRate: 22050 }), 16000)).rejects.toThrow(
      'the engine changed its sample rate mid-stream (24000 Hz, then 22050 Hz)',
    );
  });
});
