/**
 * Whisper's logit filters, applied in place to one row of float32 logits before a token
 * is chosen, in this order: suppressed tokens, blank/end-of-text at the first step, then
 * the timestamp rules.
 */

export interface FilterSettings {
  endOfText: number;
  noTimestamps: number;
  timestampBegin: number;
  /** Always −∞ (the model's suppress_tokens plus the task/special tokens). */
  suppress: Int32Array;
  /** −∞ at the first generated step only (space and end-of-text: no empty start). */
  suppressAtBegin: Int32Array;
  /** Timestamp mode: apply {@link applyTimestampRules}. */
  timestamps: boolean;
  /** Last timestamp index allowed as the first token (50 = 1.0 s), or undefined for none. */
  maxInitialTimestampIndex: number | undefined;
}

/**
 * @param generated the tokens generated so far in this window (the prompt excluded).
 * @returns log Σ exp(logits) after the filters when the timestamp rules had to compute it
 *   anyway, else undefined.
 */
export function applyFilters(logits: Float32Array, generated: readonly number[], settings: FilterSettings): number | undefined {
  for (const id of settings.suppress) logits[id] = -Infinity;
  if (generated.length === 0) for (const id of settings.suppressAtBegin) logits[id] = -Infinity;
  return settings.timestamps ? applyTimestampRules(logits, generated, settings) : undefined;
}

/** Terms this far below the maximum add nothing a double can hold to a sum that contains 1. */
const NEGLIGIBLE = 50;

/**
 * openai/whisper's ApplyTimestampRules:
 * - `<|notimestamps|>` never;
 * - timestamps come in pairs (after a lone timestamp comes another or end-of-text; after a
 *   pair, text);
 * - timestamps never go back, and a segment has non-zero length;
 * - the first token is a timestamp no later than the initial limit;
 * - when the timestamps together are likelier than any single text token, a timestamp.
 *
 * The last rule's arithmetic follows transformers.js step by step (float32 log-softmax,
 * float32 exponentials summed in double), so that near-ties fall the same way there.
 */
export function applyTimestampRules(logits: Float32Array, generated: readonly number[], settings: FilterSettings): number | undefined {
  const { timestampBegin, endOfText } = settings;
  logits[settings.noTimestamps] = -Infinity;
  if (generated.length === 0) {
    logits.fill(-Infinity, 0, timestampBegin);
    if (settings.maxInitialTimestampIndex !== undefined) logits.fill(-Infinity, timestampBegin + settings.maxInitialTimestampIndex + 1);
    return undefined;
  }
  const count = generated.length;
  const lastWasTimestamp = generated[count - 1]! >= timestampBegin;
  const penultimateWasTimestamp = count < 2 || generated[count - 2]! >= timestampBegin;
  if (lastWasTimestamp) {
    if (penultimateWasTimestamp) logits.fill(-Infinity, timestampBegin);
    else logits.fill(-Infinity, 0, endOfText);
  }
  let lastTimestamp = -1;
  for (let index = count - 1; index >= 0; index--) {
    if (generated[index]! >= timestampBegin) {
      lastTimestamp = generated[index]!;
      break;
    }
  }
  if (lastTimestamp >= 0) {
    const lowest = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1;
    logits.fill(-Infinity, timestampBegin, lowest);
  }
  // Sum of timestamp probabilities against the best text token.
  let maximum = -Infinity;
  let bestTextLogit = -Infinity;
  for (let index = 0; index < timestampBegin; index++) if (logits[index]! > bestTextLogit) bestTextLogit = logits[index]!;
  maximum = bestTextLogit;
  for (let index = timestampBegin; index < logits.length; index++) if (logits[index]! > maximum) maximum = logits[index]!;
  if (maximum === -Infinity) return undefined;
  const floor = maximum - NEGLIGIBLE;
  let sum = 0;
  for (let index = 0; index < logits.length; index++) {
    const value = logits[index]!;
    if (value > floor) sum += Math.exp(value - maximum);
  }
  const logSum = Math.log(sum);
  let timestampMass = 0;
  for (let index = timestampBegin; index < logits.length; index++) {
    const value = logits[index]!;
    if (value > floor) timestampMass += Math.fround(Math.exp(Math.fround(value - maximum - logSum)));
  }
  // The best text log-probability, rounded to float32 as transformers.js stores it.
  const bestText = bestTextLogit === -Infinity ? -Infinity : Math.fround(bestTextLogit - maximum - logSum);
  if (Math.log(timestampMass) > bestText) {
    logits.fill(-Infinity, 0, timestampBegin);
    return undefined;
  }
  return maximum + logSum;
}

/** Index of the largest value (the lowest index among ties). */
export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = values[0]!;
  for (let index = 1; index < values.length; index++) {
    if (values[index]! > bestValue) {
      bestValue = values[index]!;
      best = index;
    }
  }
  return best;
}

/** log Σ exp(values), stable; terms far below the maximum are skipped (they cannot change a double sum). */
export function logSumExp(values: Float32Array, maximum?: number): number {
  if (maximum === undefined) {
    maximum = -Infinity;
    for (let index = 0; index < values.length; index++) if (values[index]! > maximum) maximum = values[index]!;
  }
  if (maximum === -Infinity) return -Infinity;
  return maximum + Math.log(sumOfExponentials(values, maximum));
}

/*
 * exp(−x) for 0 ≤ x < NEGLIGIBLE, as 2^(−n/64) · e^r with n = round(64·x/ln 2) and
 * r = n·ln 2/64 − x, |r| ≤ ln 2/128: the power of two from a table, e^r from its Taylor
 * series to r^5 (the next term is below 2^−60 of the result). ln 2 is split in two parts
 * (fdlibm's) so that n·ln 2/64 keeps all its bits. Within 2 ulp of Math.exp, and 2.5 times
 * as fast here (Math.exp is a call per element): 0.19 against 0.5 ms for a row of 51 865
 * logits, paid per row and step by beam search and sampled decoding (greedy rows are
 * picked by onnxruntime, see greedy-picker.ts).
 */
const EXP_STEPS = 64;
const EXP_SCALE = EXP_STEPS / Math.LN2;
const LN2_HIGH_STEP = 6.93147180369123816490e-1 / EXP_STEPS;
const LN2_LOW_STEP = 1.90821492927058770002e-10 / EXP_STEPS;
const POWERS_OF_TWO = Float64Array.from({ length: Math.ceil(NEGLIGIBLE * EXP_SCALE) + 2 }, (_, n) => 2 ** -(n >> 6) * 2 ** (-(n & 63) / EXP_STEPS));

/** Σ exp(value − maximum) over the values above maximum − NEGLIGIBLE (`maximum` ≥ every value). */
export function sumOfExponentials(values: Float32Array, maximum: number): number {
  const floor = maximum - NEGLIGIBLE;
  let sum = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (!(value > floor)) continue;
    const x = maximum - value;
    const n = (x * EXP_SCALE + 0.5) | 0;
    const r = n * LN2_HIGH_STEP - x + n * LN2_LOW_STEP;
    sum += POWERS_OF_TWO[n]! * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120))))));
  }
  return sum;
}
