/**
 * The NeMo log-mel front end (`AudioToMelSpectrogramPreprocessor` at inference, as the
 * onnx-asr `nemo80.onnx` / `nemo128.onnx` graphs compute it), in TypeScript:
 *
 * 1. pre-emphasis `y[n] = x[n] − 0.97·x[n−1]` over the whole waveform;
 * 2. centred frames: 256 zeros on each side, a hop of 160 samples (10 ms);
 * 3. a symmetric 400-sample Hann window, centred in a 512-point FFT (double precision);
 * 4. the power spectrum through 80 or 128 slaney-scale, slaney-normalised mel filters (0–8 kHz);
 * 5. `log(mel + 2^-24)`;
 * 6. per-feature normalisation over the `floor(samples / 160)` valid frames: mean, and a
 *    standard deviation with N − 1 in the denominator plus 1e-5.
 *
 * Only the valid frames are returned (the centre padding's extra frame is dropped), which is
 * what parakeet.js feeds its encoder.
 */
export const SAMPLE_RATE = 16000;
export const HOP_LENGTH = 160;
export const FFT_SIZE = 512;
export const WINDOW_LENGTH = 400;
const PREEMPHASIS = 0.97;
const LOG_GUARD = 2 ** -24;
const NORMALISATION_EPSILON = 1e-5;
const BINS = FFT_SIZE / 2 + 1;

/** Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa / torchaudio `slaney`). */
function hertzToMel(hertz: number): number {
  const linearStep = 200 / 3;
  return hertz < 1000 ? hertz / linearStep : 15 + Math.log(hertz / 1000) / (Math.log(6.4) / 27);
}

function melToHertz(mel: number): number {
  const linearStep = 200 / 3;
  return mel < 15 ? mel * linearStep : 1000 * Math.exp((Math.log(6.4) / 27) * (mel - 15));
}

/** One triangular filter: its first FFT bin and weights over the bins it covers. */
export interface MelFilter {
  first: number;
  weights: Float64Array;
}

/** torchaudio `melscale_fbanks(257, 0, 8000, n_mels, 16000, norm='slaney', mel_scale='slaney')`, stored sparsely. */
export function slaneyMelFilters(melBins: number): MelFilter[] {
  const top = SAMPLE_RATE / 2;
  const edges = new Float64Array(melBins + 2);
  const low = hertzToMel(0);
  const high = hertzToMel(top);
  for (let index = 0; index < edges.length; index++) edges[index] = melToHertz(low + ((high - low) * index) / (melBins + 1));
  const filters: MelFilter[] = [];
  for (let mel = 0; mel < melBins; mel++) {
    const left = edges[mel]!;
    const centre = edges[mel + 1]!;
    const right = edges[mel + 2]!;
    const norm = 2 / (right - left);
    const dense = new Float64Array(BINS);
    let first = -1;
    let last = -1;
    for (let bin = 0; bin < BINS; bin++) {
      const frequency = (top * bin) / (BINS - 1);
      const weight = Math.max(0, Math.min((frequency - left) / (centre - left), (right - frequency) / (right - centre))) * norm;
      if (weight > 0) {
        if (first < 0) first = bin;
        last = bin;
      }
      dense[bin] = weight;
    }
    filters.push(first < 0 ? { first: 0, weights: new Float64Array(0) } : { first, weights: dense.slice(first, last + 1) });
  }
  return filters;
}

/** The symmetric Hann window of 400 samples, zero-padded to 512 (56 zeros on each side). */
function paddedHannWindow(): Float64Array {
  const window = new Float64Array(FFT_SIZE);
  const offset = (FFT_SIZE - WINDOW_LENGTH) / 2;
  for (let index = 0; index < WINDOW_LENGTH; index++) window[offset + index] = 0.5 - 0.5 * Math.cos((2 * Math.PI * index) / (WINDOW_LENGTH - 1));
  return window;
}

/**
 * A 512-point real FFT done as one 256-point complex FFT of the even/odd samples, then
 * split into the 257 bins of the real spectrum. Double precision throughout.
 */
class RealFourierTransform {
  readonly #half = FFT_SIZE / 2;
  readonly #bitReversed: Uint16Array;
  readonly #cos: Float64Array;
  readonly #sin: Float64Array;
  readonly #splitCos: Float64Array;
  readonly #splitSin: Float64Array;
  readonly #real = new Float64Array(FFT_SIZE / 2);
  readonly #imaginary = new Float64Array(FFT_SIZE / 2);

  constructor() {
    const half = this.#half;
    const bits = Math.log2(half);
    this.#bitReversed = new Uint16Array(half);
    for (let index = 0; index < half; index++) {
      let reversed = 0;
      for (let bit = 0; bit < bits; bit++) reversed |= ((index >> bit) & 1) << (bits - 1 - bit);
      this.#bitReversed[index] = reversed;
    }
    this.#cos = new Float64Array(half / 2);
    this.#sin = new Float64Array(half / 2);
    for (let index = 0; index < half / 2; index++) {
      this.#cos[index] = Math.cos((-2 * Math.PI * index) / half);
      this.#sin[index] = Math.sin((-2 * Math.PI * index) / half);
    }
    this.#splitCos = new Float64Array(half + 1);
    this.#splitSin = new Float64Array(half + 1);
    for (let index = 0; index <= half; index++) {
      this.#splitCos[index] = Math.cos((-2 * Math.PI * index) / FFT_SIZE);
      this.#splitSin[index] = Math.sin((-2 * Math.PI * index) / FFT_SIZE);
    }
  }

  /** Writes |X[k]|² for k = 0..256 of the 512 windowed samples in `frame` into `power`. */
  power(frame: Float64Array, power: Float64Array): void {
    const half = this.#half;
    const real = this.#real;
    const imaginary = this.#imaginary;
    const bitReversed = this.#bitReversed;
    const cosTable = this.#cos;
    const sinTable = this.#sin;
    for (let index = 0; index < half; index++) {
      const target = bitReversed[index]!;
      real[target] = frame[2 * index]!;
      imaginary[target] = frame[2 * index + 1]!;
    }
    for (let size = 2; size <= half; size *= 2) {
      const step = half / size;
      const span = size / 2;
      for (let offset = 0; offset < span; offset++) {
        const twiddleCos = cosTable[offset * step]!;
        const twiddleSin = sinTable[offset * step]!;
        for (let even = offset; even < half; even += size) {
          const odd = even + span;
          const oddReal = real[odd]! * twiddleCos - imaginary[odd]! * twiddleSin;
          const oddImaginary = real[odd]! * twiddleSin + imaginary[odd]! * twiddleCos;
          real[odd] = real[even]! - oddReal;
          imaginary[odd] = imaginary[even]! - oddImaginary;
          real[even] = real[even]! + oddReal;
          imaginary[even] = imaginary[even]! + oddImaginary;
        }
      }
    }
    // Z = FFT(even + i·odd); X[k] = (Z[k] + conj(Z[N/2−k]))/2 + e^{−2πik/N}·(Z[k] − conj(Z[N/2−k]))/(2i).
    const splitCos = this.#splitCos;
    const splitSin = this.#splitSin;
    for (let bin = 0; bin <= half; bin++) {
      const forward = bin === half ? 0 : bin;
      const mirrored = bin === 0 ? 0 : half - bin;
      const zReal = real[forward]!;
      const zImaginary = imaginary[forward]!;
      const mirrorReal = real[mirrored]!;
      const mirrorImaginary = -imaginary[mirrored]!;
      const evenReal = (zReal + mirrorReal) / 2;
      const evenImaginary = (zImaginary + mirrorImaginary) / 2;
      // (Z[k] − conj(Z[N/2−k])) / (2i) = (b − i·a)/2 for a + i·b.
      const oddReal = (zImaginary - mirrorImaginary) / 2;
      const oddImaginary = -(zReal - mirrorReal) / 2;
      const cos = splitCos[bin]!;
      const sin = splitSin[bin]!;
      const spectrumReal = evenReal + oddReal * cos - oddImaginary * sin;
      const spectrumImaginary = evenImaginary + oddReal * sin + oddImaginary * cos;
      power[bin] = spectrumReal * spectrumReal + spectrumImaginary * spectrumImaginary;
    }
  }
}

export interface NemoFeatures {
  /** `[melBins, frames]`, row-major: the encoder's `audio_signal` for a batch of one. */
  data: Float32Array;
  melBins: number;
  /** `floor(samples / 160)`. */
  frames: number;
}

export class NemoLogMel {
  readonly melBins: number;
  readonly #filters: MelFilter[];
  readonly #window = paddedHannWindow();
  readonly #fourier = new RealFourierTransform();

  constructor(melBins: number) {
    if (!Number.isInteger(melBins) || melBins < 1 || melBins > BINS) throw new Error(`mel bins must be an integer from 1 to ${BINS}, got ${melBins}`);
    this.melBins = melBins;
    this.#filters = slaneyMelFilters(melBins);
  }

  compute(audio: Float32Array): NemoFeatures {
    const melBins = this.melBins;
    const frames = Math.floor(audio.length / HOP_LENGTH);
    const data = new Float32Array(melBins * frames);
    if (frames === 0) return { data, melBins, frames };
    // Pre-emphasis in float32, as NeMo's graph computes it, into a centre-padded buffer.
    const padded = new Float32Array(audio.length + FFT_SIZE);
    const pad = FFT_SIZE / 2;
    padded[pad] = audio[0]!;
    for (let index = 1; index < audio.length; index++) padded[pad + index] = audio[index]! - PREEMPHASIS * audio[index - 1]!;
    const frame = new Float64Array(FFT_SIZE);
    const power = new Float64Array(BINS);
    // NeMo's graph keeps the power spectrum in float32 before the filterbank.
    const power32 = new Float32Array(BINS);
    const window = this.#window;
    const filters = this.#filters;
    const fourier = this.#fourier;
    const firsts = Int32Array.from(filters, (filter) => filter.first);
    const weightRows = filters.map((filter) => filter.weights);
    // Raw log-mel, accumulating the per-feature sums for the normalisation as we go.
    const sums = new Float64Array(melBins);
    for (let frameIndex = 0; frameIndex < frames; frameIndex++) {
      const start = frameIndex * HOP_LENGTH;
      for (let index = 0; index < FFT_SIZE; index++) frame[index] = padded[start + index]! * window[index]!;
      fourier.power(frame, power);
      power32.set(power);
      for (let mel = 0; mel < melBins; mel++) {
        const first = firsts[mel]!;
        const weights = weightRows[mel]!;
        let energy = 0;
        for (let index = 0; index < weights.length; index++) energy += power32[first + index]! * weights[index]!;
        const value = Math.log(Math.fround(energy) + LOG_GUARD);
        data[mel * frames + frameIndex] = value;
        sums[mel]! += value;
      }
    }
    const divisor = frames > 1 ? frames - 1 : 1;
    for (let mel = 0; mel < melBins; mel++) {
      const row = data.subarray(mel * frames, (mel + 1) * frames);
      const mean = sums[mel]! / frames;
      let squares = 0;
      for (let index = 0; index < frames; index++) {
        const difference = row[index]! - mean;
        squares += difference * difference;
      }
      const scale = 1 / (Math.sqrt(squares / divisor) + NORMALISATION_EPSILON);
      for (let index = 0; index < frames; index++) row[index] = (row[index]! - mean) * scale;
    }
    return { data, melBins, frames };
  }
}
