/**
 * The NeMo log-mel front end against two independent implementations on the same audio:
 * transformers.js' ParakeetFeatureExtractor and parakeet.js' JsPreprocessor (mel.js).
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@talkies/core';
import { NemoLogMel } from '../src/nemo-log-mel.js';
import { hasShared, readJfk } from './support/shared-assets.js';

/** A chirp with noise and a silent stretch: broadband, deterministic, no ../shared needed. */
function syntheticSpeechLike(seconds: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const audio = new Float32Array(Math.round(seconds * 16000));
  for (let index = 0; index < audio.length; index++) {
    const time = index / 16000;
    const silent = time > seconds * 0.4 && time < seconds * 0.5;
    audio[index] = silent ? 0 : 0.3 * Math.sin(2 * Math.PI * (120 + 900 * time) * time) + 0.05 * (random() * 2 - 1);
  }
  return audio;
}

async function transformersFeatures(audio: Float32Array, melBins: number): Promise<{ data: Float32Array; frames: number; validFrames: number }> {
  const { ParakeetFeatureExtractor } = await import('@huggingface/transformers');
  const extractor = new ParakeetFeatureExtractor({
    feature_size: melBins, sampling_rate: 16000, hop_length: 160, n_fft: 512, win_length: 400, preemphasis: 0.97,
  } as never) as unknown as (audio: Float32Array) => Promise<{ input_features: { data: Float32Array; dims: number[] }; attention_mask: { data: BigInt64Array } }>;
  const { input_features, attention_mask } = await extractor(audio);
  const [, frames] = input_features.dims as [number, number, number];
  const validFrames = attention_mask.data.reduce((count, value) => count + Number(value), 0);
  // [1, frames, mel] → [mel, frames]
  const data = new Float32Array(melBins * frames);
  for (let frame = 0; frame < frames; frame++) for (let mel = 0; mel < melBins; mel++) data[mel * frames + frame] = input_features.data[frame * melBins + mel]!;
  return { data, frames, validFrames };
}

async function parakeetFeatures(audio: Float32Array, melBins: number): Promise<{ data: Float32Array; length: number }> {
  const { JsPreprocessor } = await import('parakeet.js');
  const result = new JsPreprocessor({ nMels: melBins }).process(audio) as { features: Float32Array; length: number };
  return { data: result.features, length: result.length };
}

function maxDifference(ours: Float32Array, oursFrames: number, theirs: Float32Array, theirFrames: number, melBins: number, frames: number): number {
  let worst = 0;
  for (let mel = 0; mel < melBins; mel++) {
    for (let frame = 0; frame < frames; frame++) {
      worst = Math.max(worst, Math.abs(ours[mel * oursFrames + frame]! - theirs[mel * theirFrames + frame]!));
    }
  }
  return worst;
}

const clips: Array<[string, () => Float32Array]> = [
  ['synthetic chirp and noise, 3.7 s', () => syntheticSpeechLike(3.7, 7)],
  ['synthetic, 1.6 s (a multiple of 8 frames)', () => syntheticSpeechLike(1.6, 8)],
];
if (hasShared('audio/jfk.wav')) clips.push(['jfk.wav (11 s)', readJfk]);

describe('the NeMo log-mel front end', () => {
  for (const melBins of [128, 80]) {
    for (const [name, clip] of clips) {
      it(`${melBins} bins, ${name}: within 1e-4 of transformers.js and of parakeet.js`, async () => {
        const audio = clip();
        const ours = new NemoLogMel(melBins).compute(audio);
        expect(ours.frames).toBe(Math.floor(audio.length / 160));
        expect(ours.data.every(Number.isFinite)).toBe(true);

        const transformers = await transformersFeatures(audio, melBins);
        expect(transformers.validFrames).toBe(ours.frames);
        expect(maxDifference(ours.data, ours.frames, transformers.data, transformers.frames, melBins, ours.frames)).toBeLessThan(1e-4);

        const parakeet = await parakeetFeatures(audio, melBins);
        expect(parakeet.length).toBe(ours.frames);
        const parakeetFrames = parakeet.data.length / melBins;
        expect(maxDifference(ours.data, ours.frames, parakeet.data, parakeetFrames, melBins, ours.frames)).toBeLessThan(1e-4);
      });
    }
  }

  it('gives no frames for less than one hop of audio, and is fast', () => {
    expect(new NemoLogMel(128).compute(new Float32Array(100)).frames).toBe(0);
    const minute = syntheticSpeechLike(60, 3);
    const frontEnd = new NemoLogMel(128);
    frontEnd.compute(minute.subarray(0, 16000));
    const started = performance.now();
    frontEnd.compute(minute);
    const elapsed = performance.now() - started;
    // 60 s of audio: a few tens of milliseconds on one core; generous for a loaded CI box.
    expect(elapsed).toBeLessThan(1500);
  });
});
