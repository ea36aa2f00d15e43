import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FourierTransform } from './fourier-transform.js';
import { LogMelSpectrogram, whisperFeatures } from './log-mel-spectrogram.js';
import { melFilterBank } from './mel-filter-bank.js';
import { hasShared, readJfk, readNpz, whisperAssetsDirectory } from '../test/support/shared-assets.js';

function naiveDft(real: Float64Array, imaginary: Float64Array): [Float64Array, Float64Array] {
  const size = real.length;
  const outReal = new Float64Array(size);
  const outImaginary = new Float64Array(size);
  for (let k = 0; k < size; k++) {
    for (let n = 0; n < size; n++) {
      const angle = (-2 * Math.PI * k * n) / size;
      outReal[k] += real[n]! * Math.cos(angle) - imaginary[n]! * Math.sin(angle);
      outImaginary[k] += real[n]! * Math.sin(angle) + imaginary[n]! * Math.cos(angle);
    }
  }
  return [outReal, outImaginary];
}

describe('FourierTransform', () => {
  for (const size of [1, 2, 8, 12, 30, 49, 400, 512]) {
    it(`matches a direct DFT for n = ${size}`, () => {
      let seed = size;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      const real = Float64Array.from({ length: size }, random);
      const imaginary = Float64Array.from({ length: size }, random);
      const [expectedReal, expectedImaginary] = naiveDft(real, imaginary);
      new FourierTransform(size).transform(real, imaginary);
      for (let k = 0; k < size; k++) {
        expect(real[k]).toBeCloseTo(expectedReal[k]!, 9);
        expect(imaginary[k]).toBeCloseTo(expectedImaginary[k]!, 9);
      }
    });
  }
});

describe.skipIf(!hasShared('whisper-assets/mel_filters.npz'))('mel filter bank', () => {
  for (const bins of [80, 128]) {
    it(`equals openai/whisper's mel_${bins} within 1e-6`, () => {
      const reference = readNpz(join(whisperAssetsDirectory, 'mel_filters.npz'), `mel_${bins}`);
      expect(reference.shape).toEqual([bins, 201]);
      const ours = melFilterBank(bins, 400);
      let worst = 0;
      for (let index = 0; index < reference.data.length; index++) worst = Math.max(worst, Math.abs(ours.dense[index]! - reference.data[index]!));
      expect(worst).toBeLessThan(1e-6);
    });
  }
});

describe('log-mel features', () => {
  it('are (x + 4) / 4 of a log10 floored 8 below the maximum', () => {
    const spectrogram = new LogMelSpectrogram(melFilterBank(80, 400));
    const tone = Float32Array.from({ length: 16000 }, (_, index) => 0.5 * Math.sin((2 * Math.PI * 440 * index) / 16000));
    const { features, frames } = whisperFeatures(spectrogram, tone);
    expect(frames).toBe(3000);
    expect(features.length).toBe(80 * 3000);
    const maximum = features.reduce((a, b) => Math.max(a, b), -Infinity);
    const minimum = features.reduce((a, b) => Math.min(a, b), Infinity);
    expect(maximum - minimum).toBeCloseTo(2, 5);
  });

  it('pads audio longer than 30 s with 30 s of zeros and reports the content frames', () => {
    const spectrogram = new LogMelSpectrogram(melFilterBank(80, 400));
    const { frames, contentFrames } = whisperFeatures(spectrogram, new Float32Array(16000 * 45));
    expect(contentFrames).toBe(4500);
    expect(frames).toBe(7500);
  });
});

describe.skipIf(!hasShared('audio/jfk.wav'))('against transformers.js WhisperFeatureExtractor', () => {
  for (const bins of [80, 128]) {
    it(`jfk.wav with ${bins} mel bins agrees within 1e-4`, async () => {
      const { WhisperFeatureExtractor } = await import('@huggingface/transformers');
      const extractor = new WhisperFeatureExtractor({
        feature_size: bins, sampling_rate: 16000, hop_length: 160, n_fft: 400, n_samples: 480000, nb_max_frames: 3000, chunk_length: 30,
      });
      const audio = readJfk();
      const expected = (await extractor(audio)).input_features;
      expect(expected.dims).toEqual([1, bins, 3000]);
      const { features } = whisperFeatures(new LogMelSpectrogram(melFilterBank(bins, 400)), audio);
      const reference = expected.data as Float32Array;
      let worst = 0;
      for (let index = 0; index < reference.length; index++) worst = Math.max(worst, Math.abs(features[index]! - reference[index]!));
      expect(worst).toBeLessThan(1e-4);
      console.info(`mel ${bins}: max |ours - transformers.js| = ${worst.toExponential(2)}`);
    });
  }
});
