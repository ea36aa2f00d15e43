/**
 * The speaker encoder's front end: a 128-bin log-mel of 24 kHz audio (n_fft 1024, hop 256,
 * Hann window 1024, 0–12 kHz, Slaney mel scale and norm, magnitude spectrum,
 * log(max(x, 1e-5))), padded by (n_fft − hop)/2 reflected samples each side like the
 * reference's `mel_spectrogram`. Output is frame-major: frames × 128.
 */
export const MEL_BINS = 128;
const N_FFT = 1024;
const HOP = 256;
const SAMPLE_RATE = 24000;
const F_MAX = 12000;

function hzToMel(hz: number): number {
  return hz < 1000 ? (3 * hz) / 200 : 15 + (Math.log(hz / 1000) * 27) / Math.log(6.4);
}

function melToHz(mel: number): number {
  return mel < 15 ? (200 * mel) / 3 : 1000 * Math.exp(((mel - 15) * Math.log(6.4)) / 27);
}

let filterCache: Float32Array[] | undefined;

/** Slaney-normalised triangles over the FFT bins, one per mel bin. */
function filters(): Float32Array[] {
  if (filterCache) return filterCache;
  const bins = N_FFT / 2 + 1;
  const melMax = hzToMel(F_MAX);
  const points = Array.from({ length: MEL_BINS + 2 }, (_, index) => melToHz((melMax * index) / (MEL_BINS + 1)));
  filterCache = [];
  for (let band = 0; band < MEL_BINS; band++) {
    const [low, center, high] = [points[band]!, points[band + 1]!, points[band + 2]!];
    const weights = new Float32Array(bins);
    const norm = 2 / (high - low);
    for (let bin = 0; bin < bins; bin++) {
      const hz = (bin * SAMPLE_RATE) / N_FFT;
      const rising = (hz - low) / (center - low);
      const falling = (high - hz) / (high - center);
      weights[bin] = Math.max(0, Math.min(rising, falling)) * norm;
    }
    filterCache.push(weights);
  }
  return filterCache;
}

/** In-place radix-2 FFT of (re, im), length a power of two. */
function fft(re: Float64Array, im: Float64Array): void {
  const size = re.length;
  for (let index = 1, reversed = 0; index < size; index++) {
    let bit = size >> 1;
    for (; reversed & bit; bit >>= 1) reversed ^= bit;
    reversed ^= bit;
    if (index < reversed) {
      [re[index], re[reversed]] = [re[reversed]!, re[index]!];
      [im[index], im[reversed]] = [im[reversed]!, im[index]!];
    }
  }
  for (let length = 2; length <= size; length <<= 1) {
    const angle = (-2 * Math.PI) / length;
    for (let start = 0; start < size; start += length) {
      for (let offset = 0; offset < length / 2; offset++) {
        const cos = Math.cos(angle * offset);
        const sin = Math.sin(angle * offset);
        const a = start + offset;
        const b = a + length / 2;
        const tre = re[b]! * cos - im[b]! * sin;
        const tim = re[b]! * sin + im[b]! * cos;
        re[b] = re[a]! - tre;
        im[b] = im[a]! - tim;
        re[a] = re[a]! + tre;
        im[a] = im[a]! + tim;
      }
    }
  }
}

export function logMel(samples: Float32Array): { mel: Float32Array; frames: number } {
  const pad = (N_FFT - HOP) / 2;
  const padded = new Float32Array(samples.length + 2 * pad);
  padded.set(samples, pad);
  for (let index = 0; index < pad; index++) {
    padded[pad - 1 - index] = samples[Math.min(index + 1, samples.length - 1)] ?? 0;
    padded[pad + samples.length + index] = samples[Math.max(samples.length - 2 - index, 0)] ?? 0;
  }
  const frames = Math.max(0, Math.floor((padded.length - N_FFT) / HOP) + 1);
  const window = Float64Array.from({ length: N_FFT }, (_, index) => 0.5 - 0.5 * Math.cos((2 * Math.PI * index) / N_FFT));
  const bank = filters();
  const mel = new Float32Array(frames * MEL_BINS);
  const re = new Float64Array(N_FFT);
  const im = new Float64Array(N_FFT);
  const magnitude = new Float64Array(N_FFT / 2 + 1);
  for (let frame = 0; frame < frames; frame++) {
    for (let index = 0; index < N_FFT; index++) {
      re[index] = padded[frame * HOP + index]! * window[index]!;
      im[index] = 0;
    }
    fft(re, im);
    for (let bin = 0; bin < magnitude.length; bin++) magnitude[bin] = Math.sqrt(re[bin]! ** 2 + im[bin]! ** 2 + 1e-9);
    for (let band = 0; band < MEL_BINS; band++) {
      const weights = bank[band]!;
      let sum = 0;
      for (let bin = 0; bin < magnitude.length; bin++) sum += weights[bin]! * magnitude[bin]!;
      mel[frame * MEL_BINS + band] = Math.log(Math.max(sum, 1e-5));
    }
  }
  return { mel, frames };
}
