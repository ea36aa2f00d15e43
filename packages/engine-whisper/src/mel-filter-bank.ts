/**
 * The Slaney-style mel filter bank Whisper was trained with (librosa's `filters.mel`
 * with `htk=False, norm='slaney'`, the arrays in openai/whisper's `mel_filters.npz`).
 */

const MIN_LOG_HERTZ = 1000;
const MIN_LOG_MEL = 15;
const LOG_STEP = Math.log(6.4) / 27;
const HERTZ_PER_MEL = 200 / 3;

export function hertzToMel(hertz: number): number {
  return hertz < MIN_LOG_HERTZ ? hertz / HERTZ_PER_MEL : MIN_LOG_MEL + Math.log(hertz / MIN_LOG_HERTZ) / LOG_STEP;
}

export function melToHertz(mel: number): number {
  return mel < MIN_LOG_MEL ? mel * HERTZ_PER_MEL : MIN_LOG_HERTZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL));
}

/** A filter bank stored sparsely: each filter's first non-zero bin and its weights. */
export interface MelFilterBank {
  melBins: number;
  frequencyBins: number;
  /** Dense row-major `[melBins, frequencyBins]` weights. */
  dense: Float64Array;
  /** Per filter: first bin with a non-zero weight and the weights from there. */
  sparse: Array<{ start: number; weights: Float64Array }>;
}

/**
 * @param melBins 80 or 128.
 * @param fftSize 400 for Whisper (201 frequency bins).
 */
export function melFilterBank(
  melBins: number,
  fftSize: number,
  sampleRate = 16000,
  minimumHertz = 0,
  maximumHertz = sampleRate / 2,
): MelFilterBank {
  const frequencyBins = Math.floor(fftSize / 2) + 1;
  const binHertz = Array.from({ length: frequencyBins }, (_, index) => (index * (sampleRate / 2)) / (frequencyBins - 1));
  const lowMel = hertzToMel(minimumHertz);
  const highMel = hertzToMel(maximumHertz);
  const edges = Array.from({ length: melBins + 2 }, (_, index) => melToHertz(lowMel + ((highMel - lowMel) * index) / (melBins + 1)));
  const dense = new Float64Array(melBins * frequencyBins);
  for (let filter = 0; filter < melBins; filter++) {
    const left = edges[filter]!;
    const center = edges[filter + 1]!;
    const right = edges[filter + 2]!;
    const norm = 2 / (right - left);
    for (let bin = 0; bin < frequencyBins; bin++) {
      const hertz = binHertz[bin]!;
      const rising = (hertz - left) / (center - left);
      const falling = (right - hertz) / (right - center);
      const weight = Math.max(0, Math.min(rising, falling));
      dense[filter * frequencyBins + bin] = weight * norm;
    }
  }
  return { melBins, frequencyBins, dense, sparse: sparsify(dense, melBins, frequencyBins) };
}

/** Wraps given weights (e.g. `mel_filters` from preprocessor_config.json) as a filter bank. */
export function filterBankFromRows(rows: readonly (readonly number[])[]): MelFilterBank {
  const melBins = rows.length;
  const frequencyBins = rows[0]?.length ?? 0;
  const dense = new Float64Array(melBins * frequencyBins);
  rows.forEach((row, filter) => dense.set(row, filter * frequencyBins));
  return { melBins, frequencyBins, dense, sparse: sparsify(dense, melBins, frequencyBins) };
}

function sparsify(dense: Float64Array, melBins: number, frequencyBins: number): MelFilterBank['sparse'] {
  const sparse: MelFilterBank['sparse'] = [];
  for (let filter = 0; filter < melBins; filter++) {
    const row = dense.subarray(filter * frequencyBins, (filter + 1) * frequencyBins);
    let start = row.findIndex((weight) => weight !== 0);
    if (start < 0) start = 0;
    let end = frequencyBins;
    while (end > start && row[end - 1] === 0) end--;
    sparse.push({ start, weights: row.slice(start, end) });
  }
  return sparse;
}
