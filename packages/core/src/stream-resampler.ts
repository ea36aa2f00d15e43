/**
 * Block-by-block sample-rate conversion for live audio (24 kHz pcm16 from a realtime
 * client, 16/22.05/44.1/48 kHz from a Wyoming satellite) to the 16 kHz the chunker and the
 * engines take. A windowed-sinc (Blackman) interpolator with its cutoff at the lower of the
 * two Nyquist frequencies, so downsampling does not alias; it keeps only the few input
 * samples the next output needs, so a stream of any length holds constant memory.
 */

/** Zero crossings of the sinc on each side at the output rate; the filter spans 2×this. */
const ZERO_CROSSINGS = 16;
/** Above this many distinct phases the coefficients are computed per sample instead of kept. */
const MAX_TABLE_PHASES = 2048;

function greatestCommonDivisor(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export class StreamResampler {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Output samples advance the input position by `#step / #phases` samples. */
  readonly #phases: number;
  readonly #step: number;
  readonly #cutoff: number;
  /** Taps on each side of the interpolation point, in input samples. */
  readonly #half: number;
  readonly #table: Float32Array[] | undefined;
  /** Input not yet consumed; `#buffer[0]` is input sample `#base`. */
  #buffer = new Float32Array(0);
  #base = 0;
  /** Next output sample. */
  #next = 0;
  #ended = false;

  constructor(inputRate: number, outputRate: number) {
    if (!(Number.isInteger(inputRate) && inputRate > 0 && Number.isInteger(outputRate) && outputRate > 0)) {
      throw new RangeError(`sample rates must be positive integers, got ${inputRate} → ${outputRate}`);
    }
    this.inputRate = inputRate;
    this.outputRate = outputRate;
    const divisor = greatestCommonDivisor(inputRate, outputRate);
    this.#phases = outputRate / divisor;
    this.#step = inputRate / divisor;
    this.#cutoff = Math.min(1, outputRate / inputRate);
    this.#half = Math.ceil(ZERO_CROSSINGS / this.#cutoff);
    if (inputRate !== outputRate && this.#phases <= MAX_TABLE_PHASES) {
      this.#table = [];
      for (let phase = 0; phase < this.#phases; phase++) {
        const fraction = phase / this.#phases;
        const taps = new Float32Array(2 * this.#half);
        for (let tap = 0; tap < taps.length; tap++) taps[tap] = this.#kernel(fraction - (tap - this.#half + 1));
        this.#table.push(taps);
      }
    }
  }

  /** The filter's value at `distance` input samples from the interpolation point. */
  #kernel(distance: number): number {
    if (Math.abs(distance) >= this.#half) return 0;
    const x = distance * this.#cutoff;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const window = 0.42 + 0.5 * Math.cos((Math.PI * distance) / this.#half) + 0.08 * Math.cos((2 * Math.PI * distance) / this.#half);
    return this.#cutoff * sinc * window;
  }

  /** Converts the next block; returns the output samples that became computable (maybe none). */
  push(block: Float32Array): Float32Array {
    if (this.#ended) throw new Error('StreamResampler.push after end');
    if (this.inputRate === this.outputRate) return block.slice();
    const merged = new Float32Array(this.#buffer.length + block.length);
    merged.set(this.#buffer);
    merged.set(block, this.#buffer.length);
    this.#buffer = merged;
    return this.#drain();
  }

  /** Flushes the tail (the input after the last block counts as silence). */
  end(): Float32Array {
    if (this.#ended) return new Float32Array(0);
    this.#ended = true;
    if (this.inputRate === this.outputRate) return new Float32Array(0);
    const inputLength = this.#base + this.#buffer.length;
    // As many outputs as the input's duration holds, as a resampling of the whole would give.
    const total = Math.floor((inputLength * this.#phases) / this.#step);
    const padded = new Float32Array(this.#buffer.length + this.#half);
    padded.set(this.#buffer);
    this.#buffer = padded;
    return this.#drain(total);
  }

  /** Produces every output whose taps are all buffered, up to `limit` outputs in all. */
  #drain(limit = Infinity): Float32Array {
    const out: number[] = [];
    for (;;) {
      if (this.#next >= limit) break;
      const position = this.#next * this.#step;
      const index = Math.floor(position / this.#phases);
      const phase = position - index * this.#phases;
      const first = index - this.#half + 1;
      const last = index + this.#half;
      if (last - this.#base >= this.#buffer.length) break;
      let sum = 0;
      const taps = this.#table?.[phase];
      for (let tap = 0; tap < 2 * this.#half; tap++) {
        const source = first + tap;
        if (source < this.#base) continue; // before the first input sample: silence
        const sample = this.#buffer[source - this.#base]!;
        sum += sample * (taps ? taps[tap]! : this.#kernel(phase / this.#phases - (tap - this.#half + 1)));
      }
      out.push(sum);
      this.#next++;
    }
    // Keep what the next output's leftmost tap needs.
    const keepFrom = Math.floor((this.#next * this.#step) / this.#phases) - this.#half + 1;
    const drop = Math.min(this.#buffer.length, Math.max(0, keepFrom - this.#base));
    if (drop > 0) {
      this.#buffer = this.#buffer.slice(drop);
      this.#base += drop;
    }
    return Float32Array.from(out);
  }
}

/** Resamples a whole clip at once (same filter as {@link StreamResampler}). */
export function resample(audio: Float32Array, inputRate: number, outputRate: number): Float32Array {
  const resampler = new StreamResampler(inputRate, outputRate);
  const head = resampler.push(audio);
  const tail = resampler.end();
  const out = new Float32Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
