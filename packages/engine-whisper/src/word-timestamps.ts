/**
 * Token and word timings from cross-attention weights: the alignment heads' attention
 * over the encoder frames, normalised per frame across tokens, median-filtered along time,
 * averaged over heads, then dynamic time warping between tokens and frames. The steps and
 * their float32 rounding points follow transformers.js (`_extract_token_timestamps`), whose
 * word grouping follows openai/whisper's.
 */

/**
 * @param rows per alignment head, one row of `frames`-or-more attention weights per
 *   decoder input position (the prompt's positions first).
 * @param promptLength rows belonging to the prompt (dropped after normalisation).
 * @param frames encoder frames to keep (the window's audio; 1500 for a full 30 s).
 * @returns the time in seconds of each generated token that has a row (the DTW jump
 *   times), relative to the window.
 */
export function tokenTimes(rows: readonly (readonly Float32Array[])[], promptLength: number, frames: number, medianWidth: number): number[] {
  const heads = rows.length;
  const tokens = rows[0]?.length ?? 0;
  if (heads === 0 || tokens <= promptLength) return [];
  // Normalise each head over the token axis, frame by frame (float32 accumulators).
  const smoothed: Float32Array[][] = [];
  for (let head = 0; head < heads; head++) {
    const mean = new Float32Array(frames);
    for (let token = 0; token < tokens; token++) {
      const row = rows[head]![token]!;
      for (let frame = 0; frame < frames; frame++) mean[frame] = mean[frame]! + row[frame]!;
    }
    if (tokens !== 1) for (let frame = 0; frame < frames; frame++) mean[frame] = mean[frame]! / tokens;
    const variance = new Float32Array(frames);
    for (let token = 0; token < tokens; token++) {
      const row = rows[head]![token]!;
      for (let frame = 0; frame < frames; frame++) variance[frame] = variance[frame]! + (row[frame]! - mean[frame]!) ** 2;
    }
    const deviation = new Float32Array(frames);
    for (let frame = 0; frame < frames; frame++) deviation[frame] = Math.sqrt(variance[frame]! / tokens);
    const headRows: Float32Array[] = [];
    for (let token = 0; token < tokens; token++) {
      const normalised = new Float32Array(frames);
      const row = rows[head]![token]!;
      for (let frame = 0; frame < frames; frame++) normalised[frame] = (row[frame]! - mean[frame]!) / deviation[frame]!;
      headRows.push(medianFilter(normalised, medianWidth));
    }
    smoothed.push(headRows);
  }
  // Mean over heads of the generated tokens' rows, negated: DTW minimises cost.
  const matrix: Float32Array[] = [];
  for (let token = promptLength; token < tokens; token++) {
    const sum = new Float32Array(frames);
    for (let head = 0; head < heads; head++) {
      const row = smoothed[head]![token]!;
      for (let frame = 0; frame < frames; frame++) sum[frame] = sum[frame]! + row[frame]!;
    }
    if (heads !== 1) for (let frame = 0; frame < frames; frame++) sum[frame] = sum[frame]! / heads;
    for (let frame = 0; frame < frames; frame++) sum[frame] = -sum[frame]!;
    matrix.push(sum);
  }
  const [textIndices, timeIndices] = dynamicTimeWarping(matrix, frames);
  const times: number[] = [];
  for (let index = 0; index < textIndices.length; index++) {
    if (index === 0 || textIndices[index] !== textIndices[index - 1]) times.push(timeIndices[index]! * 0.02);
  }
  return times;
}

/** Median filter with reflected edges (width odd). */
export function medianFilter(data: Float32Array, width: number): Float32Array {
  const half = Math.floor(width / 2);
  const out = new Float32Array(data.length);
  const window = new Float32Array(width);
  for (let index = 0; index < data.length; index++) {
    for (let offset = -half, slot = 0; offset <= half; offset++, slot++) {
      let source = index + offset;
      if (source < 0) source = -source;
      else if (source >= data.length) source = 2 * (data.length - 1) - source;
      window[slot] = data[source]!;
    }
    window.sort();
    out[index] = window[half]!;
  }
  return out;
}

/**
 * Minimum-cost monotonic path through `matrix` (rows: tokens, columns: frames), moves
 * diagonal / down / right; ties go right. Returns the path's row and column indices.
 */
export function dynamicTimeWarping(matrix: readonly Float32Array[], columns: number): [number[], number[]] {
  const rows = matrix.length;
  const width = columns + 1;
  const cost = new Float64Array((rows + 1) * width).fill(Infinity);
  const trace = new Int8Array((rows + 1) * width).fill(-1);
  cost[0] = 0;
  for (let j = 1; j <= columns; j++) {
    for (let i = 1; i <= rows; i++) {
      const diagonal = cost[(i - 1) * width + j - 1]!;
      const up = cost[(i - 1) * width + j]!;
      const left = cost[i * width + j - 1]!;
      let best: number;
      let move: number;
      if (diagonal < up && diagonal < left) {
        best = diagonal;
        move = 0;
      } else if (up < diagonal && up < left) {
        best = up;
        move = 1;
      } else {
        best = left;
        move = 2;
      }
      cost[i * width + j] = matrix[i - 1]![j - 1]! + best;
      trace[i * width + j] = move;
    }
  }
  for (let j = 0; j <= columns; j++) trace[j] = 2;
  for (let i = 0; i <= rows; i++) trace[i * width] = 1;
  const textIndices: number[] = [];
  const timeIndices: number[] = [];
  let i = rows;
  let j = columns;
  while (i > 0 || j > 0) {
    textIndices.push(i - 1);
    timeIndices.push(j - 1);
    const move = trace[i * width + j];
    if (move === 0) {
      i--;
      j--;
    } else if (move === 1) i--;
    else j--;
  }
  return [textIndices.reverse(), timeIndices.reverse()];
}

const PUNCTUATION_ONLY = /^[\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E]+$/u;
const PREPENDED = '"\'“¡¿([{-';
const APPENDED = '"\'.。,，!！?？:：”)]}、';
const UNSPACED_LANGUAGES = new Set(['zh', 'ja', 'th', 'lo', 'my', 'yue']);

export interface TimedToken {
  id: number;
  text: string;
  start: number;
  end: number;
}

/**
 * Groups timed text tokens into words: split where the text decodes to whole characters,
 * then at leading spaces and punctuation (not for languages written without spaces), then
 * attach leading and trailing punctuation to their neighbours. A word runs from its first
 * token's start to its last token's end.
 */
export function tokensToWords(
  tokens: readonly TimedToken[],
  decode: (ids: number[]) => string,
  language: string | undefined,
): Array<{ word: string; start: number; end: number }> {
  // Pieces that decode to complete characters.
  const pieces: Array<{ text: string; tokens: number[] }> = [];
  const full = decode(tokens.map((token) => token.id));
  let pending: number[] = [];
  let offset = 0;
  for (let index = 0; index < tokens.length; index++) {
    pending.push(index);
    const text = decode(pending.map((position) => tokens[position]!.id));
    const broken = text.indexOf('\uFFFD');
    if (broken < 0 || full[offset + broken] === '\uFFFD') {
      pieces.push({ text, tokens: pending });
      offset += text.length;
      pending = [];
    }
  }
  let words: Array<{ text: string; tokens: number[] }>;
  if (language !== undefined && UNSPACED_LANGUAGES.has(language)) {
    words = pieces;
  } else {
    words = [];
    for (const piece of pieces) {
      const startsWord = piece.text.startsWith(' ') || PUNCTUATION_ONLY.test(piece.text.trim()) || words.length === 0;
      if (startsWord) words.push({ text: piece.text, tokens: [...piece.tokens] });
      else {
        words.at(-1)!.text += piece.text;
        words.at(-1)!.tokens.push(...piece.tokens);
      }
    }
  }
  // Leading punctuation joins the next word, trailing punctuation the previous one.
  for (let i = words.length - 2, j = words.length - 1; i >= 0; i--) {
    if (words[i]!.text.startsWith(' ') && PREPENDED.includes(words[i]!.text.trim())) {
      words[j] = { text: words[i]!.text + words[j]!.text, tokens: [...words[i]!.tokens, ...words[j]!.tokens] };
      words[i] = { text: '', tokens: [] };
    } else {
      j = i;
    }
  }
  for (let i = 0, j = 1; j < words.length; j++) {
    if (!words[i]!.text.endsWith(' ') && APPENDED.includes(words[j]!.text) && words[j]!.text !== '') {
      words[i] = { text: words[i]!.text + words[j]!.text, tokens: [...words[i]!.tokens, ...words[j]!.tokens] };
      words[j] = { text: '', tokens: [] };
    } else {
      i = j;
    }
  }
  return words
    .filter((word) => word.text !== '' && word.tokens.length > 0)
    .map((word) => ({
      word: word.text,
      start: tokens[word.tokens[0]!]!.start,
      end: tokens[word.tokens.at(-1)!]!.end,
    }));
}

/** True when the token's text is punctuation only (it then gets no duration). */
export function isPunctuationOnly(text: string): boolean {
  return PUNCTUATION_ONLY.test(text);
}
