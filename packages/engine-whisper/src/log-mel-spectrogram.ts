/**
 * Whisper's log-mel front end: periodic Hann window of 400, hop 160, reflect padding of
 * 200 at both ends ("center"), power spectrum, Slaney mel filters, log10 with a 1e-10
 * floor, a floor at (maximum − 8) and (x + 4) / 4. Computed in float64 and returned as
 * float32, which is what the encoder takes.
 */
import { FourierTransform } from './fourier-transform.js';
import type { MelFilterBank } from './mel-filter-bank.js';

export interface LogMelOptions {
  /** 400 for Whisper. */
  fftSize?: number;
  /** 160 for Whisper (10 ms at 16 kHz). */
  hopLength?: number;
}

export class LogMelSpectrogram {
  readonly filterBank: MelFilterBank;
  readonly fftSize: number;
  readonly hopLength: number;
  readonly #window: Float64Array;
  readonly #fourier: FourierTransform;

  constructor(filterBank: MelFilterBank, options: LogMelOptions = {}) {
    this.filterBank = filterBank;
    this.fftSize = options.fftSize ?? 400;
    this.hopLength = options.hopLength ?? 160;
    if (filterBank.frequencyBins !== Math.floor(this.fftSize / 2) + 1) {
      throw new RangeError(`the filter bank has ${filterBank.frequencyBins} frequency bins; an FFT of ${this.fftSize} gives ${Math.floor(this.fftSize / 2) + 1}`);
    }
    // Periodic Hann (torch.hann_window(400), numpy hanning(401)[:400]).
    this.#window = new Float64Array(this.fftSize);
    for (let index = 0; index < this.fftSize; index++) this.#window[index] = 0.5 - 0.5 * Math.cos((2 * Math.PI * index) / this.fftSize);
    this.#fourier = new FourierTransform(this.fftSize);
  }

  /**
   * Features of `waveform` (already padded or cut to the length wanted): `frameCount`
   * frames, row-major `[melBins, frameCount]`. Frames past the end of the padded signal
   * read zeros.
   */
  compute(waveform: Float32Array, frameCount = Math.floor(waveform.length / this.hopLength)): Float32Array {
    const { melBins, frequencyBins, sparse } = this.filterBank;
    const half = Math.floor(this.fftSize / 2);
    const length = waveform.length;
    // Reflect padding without building the padded copy: sample at padded position p.
    const sampleAt = (position: number): number => {
      let index = position - half;
      if (index < 0) index = -index;
      if (index >= length) index = 2 * (length - 1) - index;
      return index >= 0 && index < length ? waveform[index]! : 0;
    };
    const paddedLength = length + 2 * half;
    // Frames that only see the zero padding after the audio have no energy: skip their FFT.
    let lastSound = length - 1;
    while (lastSound >= 0 && waveform[lastSound] === 0) lastSound--;
    const mel = new Float64Array(melBins * frameCount);
    const real = new Float64Array(this.fftSize);
    const imaginary = new Float64Array(this.fftSize);
    const powerA = new Float64Array(frequencyBins);
    const powerB = new Float64Array(frequencyBins);
    const size = this.fftSize;
    const window = this.#window;
    // Two real frames per complex FFT: frame A in the real part, frame B in the imaginary.
    for (let frame = 0; frame < frameCount; frame += 2) {
      if (frame * this.hopLength - half > lastSound + half) continue; // both frames silent (mel stays 0)
      const hasSecond = frame + 1 < frameCount;
      const offsetA = frame * this.hopLength;
      const offsetB = offsetA + this.hopLength;
      const interiorA = offsetA >= half && offsetA + size <= paddedLength - half;
      const interiorB = offsetB >= half && offsetB + size <= paddedLength - half;
      for (let index = 0; index < size; index++) {
        const a = interiorA ? waveform[offsetA - half + index]! : offsetA + index < paddedLength ? sampleAt(offsetA + index) : 0;
        const b = !hasSecond ? 0 : interiorB ? waveform[offsetB - half + index]! : offsetB + index < paddedLength ? sampleAt(offsetB + index) : 0;
        real[index] = a * window[index]!;
        imaginary[index] = b * window[index]!;
      }
      this.#fourier.transform(real, imaginary);
      for (let bin = 0; bin < frequencyBins; bin++) {
        const mirror = bin === 0 ? 0 : size - bin;
        const zr = real[bin]!;
        const zi = imaginary[bin]!;
        const mr = real[mirror]!;
        const mi = imaginary[mirror]!;
        // A = (Z[k] + conj Z[N-k]) / 2, B = (Z[k] - conj Z[N-k]) / 2i
        const ar = (zr + mr) / 2;
        const ai = (zi - mi) / 2;
        const br = (zi + mi) / 2;
        const bi = (mr - zr) / 2;
        powerA[bin] = ar * ar + ai * ai;
        powerB[bin] = br * br + bi * bi;
      }
      for (let filter = 0; filter < melBins; filter++) {
        const { start, weights } = sparse[filter]!;
        let sumA = 0;
        let sumB = 0;
        for (let index = 0; index < weights.length; index++) {
          const weight = weights[index]!;
          sumA += weight * powerA[start + index]!;
          sumB += weight * powerB[start + index]!;
        }
        mel[filter * frameCount + frame] = sumA;
        if (hasSecond) mel[filter * frameCount + frame + 1] = sumB;
      }
    }
    let maximum = -Infinity;
    for (let index = 0; index < mel.length; index++) {
      const value = Math.log10(Math.max(mel[index]!, 1e-10));
      mel[index] = value;
      if (value > maximum) maximum = value;
    }
    const floor = maximum - 8;
    const features = new Float32Array(mel.length);
    for (let index = 0; index < mel.length; index++) features[index] = (Math.max(mel[index]!, floor) + 4) / 4;
    return features;
  }
}

/** Samples in Whisper's 30 s window at 16 kHz. */
export const WINDOW_SAMPLES = 480_000;
/** Mel frames in the 30 s window. */
export const WINDOW_FRAMES = 3000;

/**
 * The features for a whole input, laid out the way the decoder loop reads them:
 * audio of up to 30 s is zero-padded to exactly 30 s (3000 frames, as transformers.js and
 * the Hugging Face feature extractor do); longer audio gets 30 s of zeros appended (as
 * openai/whisper does) and `contentFrames` says where the speech ends.
 */
export function whisperFeatures(
  spectrogram: LogMelSpectrogram,
  audio: Float32Array,
): { features: Float32Array; frames: number; contentFrames: number } {
  if (audio.length <= WINDOW_SAMPLES) {
    const padded = new Float32Array(WINDOW_SAMPLES);
    padded.set(audio);
    return { features: spectrogram.compute(padded, WINDOW_FRAMES), frames: WINDOW_FRAMES, contentFrames: WINDOW_FRAMES };
  }
  const padded = new Float32Array(audio.length + WINDOW_SAMPLES);
  padded.set(audio);
  const frames = Math.floor(padded.length / spectrogram.hopLength);
  return {
    features: spectrogram.compute(padded, frames),
    frames,
    contentFrames: Math.floor(audio.length / spectrogram.hopLength),
  };
}
