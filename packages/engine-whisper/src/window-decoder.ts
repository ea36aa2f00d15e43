/**
 * Decoding one 30 s window: the autoregressive loop over the merged decoder with its KV
 * cache, greedy (or sampled, at a temperature above 0) or beam search.
 */
import type * as OnnxRuntime from 'onnxruntime-node';
import { SpeechError } from '@talkies/core';
import { applyFilters, argmax, logSumExp, type FilterSettings } from './logit-filters.js';
import { releaseNow, type CrossCacheRows, type DecoderStepResult, type KeyValueCache, type WhisperSessions } from './whisper-sessions.js';

export interface WindowDecodeOptions {
  /** Everything before the first generated token: [startofprev, context…,] sot, language, task, [notimestamps]. */
  prompt: readonly number[];
  /** Index of `<|startoftranscript|>` in the prompt (no-speech probability is read there). */
  startOfTranscriptIndex: number;
  noSpeech: number | undefined;
  filters: FilterSettings;
  /** Total length limit, prompt included (Whisper: 448). */
  maxLength: number;
  temperature: number;
  beamSize: number;
  random: () => number;
  /** Collect cross-attention rows of these [layer, head] pairs (word timestamps). */
  alignmentHeads?: ReadonlyArray<readonly [number, number]>;
  signal: AbortSignal;
}

export interface WindowDecodeResult {
  /** Generated tokens, end-of-text excluded. */
  tokens: number[];
  /** Sum of the chosen tokens' log-probabilities, end-of-text included. */
  sumLogprob: number;
  avgLogprob: number;
  noSpeechProb: number;
  temperature: number;
  /**
   * Per alignment head, `[steps][frames]` rows of cross-attention weights for the prompt's
   * positions and every generated token (end-of-text included), when asked for.
   */
  attention?: Float32Array[][];
}

export function abortedError(): SpeechError {
  return new SpeechError('ABORTED', 'the transcription was cancelled');
}

function softmaxAt(row: Float32Array, id: number): number {
  return Math.exp(row[id]! - logSumExp(row));
}

/** Collects the alignment heads' rows out of a step's cross-attention outputs for one batch row. */
function collectAttention(
  sink: Float32Array[][],
  crossAttentions: Array<{ data: Float32Array; dims: readonly number[] }> | undefined,
  heads: ReadonlyArray<readonly [number, number]>,
  batchRow: number,
): void {
  if (!crossAttentions) return;
  heads.forEach(([layer, head], index) => {
    const { data, dims } = crossAttentions[layer]!;
    const [, headCount, length, frames] = dims as [number, number, number, number];
    for (let position = 0; position < length; position++) {
      const offset = ((batchRow * headCount + head) * length + position) * frames;
      sink[index]!.push(data.slice(offset, offset + frames));
    }
  });
}

export async function decodeWindow(
  sessions: WhisperSessions,
  encoderHidden: OnnxRuntime.Tensor,
  options: WindowDecodeOptions,
): Promise<WindowDecodeResult> {
  return options.beamSize > 1 && options.temperature === 0
    ? beamSearch(sessions, encoderHidden, options)
    : sampleOrGreedy(sessions, encoderHidden, options);
}

/** A sequence being decoded: its options, its tokens so far and their summed log-probability. */
interface SequenceState {
  options: WindowDecodeOptions;
  generated: number[];
  sumLogprob: number;
}

/**
 * Chooses the next token of every sequence of a step: applies each row's filters to its
 * last logits (in place: nothing reads a step's logits after this), picks the token (the
 * greedy rows all in one call of the session's picker, sampled rows here), appends it to
 * the row's `generated` and adds its log-probability to `sumLogprob`. A row whose state is
 * undefined is left alone (its token is −1).
 */
async function chooseTokens(
  sessions: WhisperSessions,
  step: DecoderStepResult,
  states: ReadonlyArray<SequenceState | undefined>,
): Promise<number[]> {
  const { vocabulary, length } = step;
  const lastLogits = (row: number): Float32Array => {
    const offset = (row * length + length - 1) * vocabulary;
    return step.logits.subarray(offset, offset + vocabulary);
  };
  // The timestamp rules compute the log-sum-exp as transformers.js does (near ties): kept for those rows.
  const normalisers = states.map((state, row) => state && applyFilters(lastLogits(row), state.generated, state.options.filters));
  const greedy = states.some((state) => state && !(state.options.temperature > 0))
    ? await sessions.pickGreedy(step.logits, step.batch, length, vocabulary)
    : undefined;
  return states.map((state, row) => {
    if (!state) return -1;
    const logits = lastLogits(row);
    const normaliser = normalisers[row];
    let token: number;
    let logprob: number;
    if (state.options.temperature > 0) {
      token = sample(logits, state.options.temperature, state.options.random);
      logprob = logits[token]! - (normaliser ?? logSumExp(logits));
    } else {
      token = greedy!.tokens[row]!;
      logprob = normaliser === undefined ? greedy!.logprobs[row]! : logits[token]! - normaliser;
    }
    state.generated.push(token);
    state.sumLogprob += logprob;
    return token;
  });
}

async function sampleOrGreedy(sessions: WhisperSessions, encoderHidden: OnnxRuntime.Tensor, options: WindowDecodeOptions): Promise<WindowDecodeResult> {
  const { prompt, filters, signal } = options;
  const wantAttention = options.alignmentHeads !== undefined && sessions.hasCrossAttentions;
  const attention: Float32Array[][] | undefined = wantAttention ? options.alignmentHeads!.map(() => []) : undefined;
  const state: SequenceState = { options, generated: [], sumLogprob: 0 };
  const { generated } = state;
  let noSpeechProb = 0;
  let pending: Promise<Awaited<ReturnType<WhisperSessions['step']>>> | undefined = sessions.step(prompt, 1, encoderHidden, undefined, wantAttention);
  let spent: DecoderStepResult | undefined;
  while (pending) {
    const step = await pending;
    pending = undefined;
    if (spent) {
      // The step before this one: nothing reads its logits or self-attention cache again.
      releaseNow(spent.logits);
      sessions.releaseSelfAttention(spent.cache);
    }
    spent = step;
    if (signal.aborted) throw abortedError();
    const { vocabulary } = step;
    if (generated.length === 0 && options.noSpeech !== undefined) {
      noSpeechProb = softmaxAt(step.logits.subarray(options.startOfTranscriptIndex * vocabulary, (options.startOfTranscriptIndex + 1) * vocabulary), options.noSpeech);
    }
    const [token] = (await chooseTokens(sessions, step, [state])) as [number];
    if (attention) collectAttention(attention, step.crossAttentions, options.alignmentHeads!, 0);
    // The bookkeeping is done before the next call, not during it: on a small machine the
    // JS thread would only take a core from onnxruntime (measured: no gain).
    if (token !== filters.endOfText && prompt.length + generated.length < options.maxLength) {
      pending = sessions.step([token], 1, encoderHidden, step.cache, wantAttention);
    }
  }
  return windowResult(state, noSpeechProb, attention);
}

/** A finished sequence's result: its tokens without the end-of-text, and its mean log-probability (end-of-text counted). */
function windowResult(state: SequenceState, noSpeechProb: number, attention: Float32Array[][] | undefined): WindowDecodeResult {
  const { generated, sumLogprob, options } = state;
  const tokens = generated.at(-1) === options.filters.endOfText ? generated.slice(0, -1) : generated;
  return { tokens, sumLogprob, avgLogprob: sumLogprob / (tokens.length + 1), noSpeechProb, temperature: options.temperature, attention };
}

function sample(row: Float32Array, temperature: number, random: () => number): number {
  let maximum = -Infinity;
  for (let index = 0; index < row.length; index++) if (row[index]! > maximum) maximum = row[index]!;
  let total = 0;
  const weights = new Float64Array(row.length);
  for (let index = 0; index < row.length; index++) {
    const weight = row[index] === -Infinity ? 0 : Math.exp((row[index]! - maximum) / temperature);
    weights[index] = weight;
    total += weight;
  }
  let threshold = random() * total;
  for (let index = 0; index < row.length; index++) {
    threshold -= weights[index]!;
    if (threshold < 0 && weights[index]! > 0) return index;
  }
  return argmax(row);
}

interface Beam {
  tokens: number[];
  sumLogprob: number;
  /** Row of this beam in the decoder batch. */
  row: number;
}

/**
 * openai/whisper's BeamSearchDecoder with patience 1: each step keeps the `beamSize` best
 * continuations that do not end; finished sequences are collected until there are
 * `beamSize` of them; the best by mean log-probability wins.
 */
async function beamSearch(sessions: WhisperSessions, encoderHidden: OnnxRuntime.Tensor, options: WindowDecodeOptions): Promise<WindowDecodeResult> {
  const { prompt, filters, beamSize, signal } = options;
  const endOfText = filters.endOfText;
  const finished: Array<{ tokens: number[]; sumLogprob: number }> = [];
  let beams: Beam[] = [{ tokens: [], sumLogprob: 0, row: 0 }];
  let noSpeechProb = 0;
  // First step with one row; its cache is then tiled to the beams.
  let step = await sessions.step(prompt, 1, encoderHidden, undefined, false);
  if (options.noSpeech !== undefined) {
    const v = step.vocabulary;
    noSpeechProb = softmaxAt(step.logits.subarray(options.startOfTranscriptIndex * v, (options.startOfTranscriptIndex + 1) * v), options.noSpeech);
  }
  let tiledHidden = encoderHidden;
  let firstStep = true;
  while (beams.length > 0) {
    if (signal.aborted) throw abortedError();
    const { vocabulary, length } = step;
    const candidates: Array<{ parent: Beam; token: number; sumLogprob: number }> = [];
    for (const beam of beams) {
      const offset = (beam.row * length + length - 1) * vocabulary;
      const row = step.logits.slice(offset, offset + vocabulary);
      applyFilters(row, beam.tokens, filters);
      const normaliser = logSumExp(row);
      // The beamSize + 1 best tokens of this beam.
      const best: Array<[number, number]> = [];
      for (let id = 0; id < row.length; id++) {
        const value = row[id]!;
        if (value === -Infinity) continue;
        if (best.length < beamSize + 1) {
          best.push([id, value]);
          best.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
        } else if (value > best[beamSize]![1]) {
          best[beamSize] = [id, value];
          best.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
        }
      }
      for (const [token, value] of best) candidates.push({ parent: beam, token, sumLogprob: beam.sumLogprob + value - normaliser });
    }
    candidates.sort((a, b) => b.sumLogprob - a.sumLogprob);
    const next: Beam[] = [];
    const seen = new Set<string>();
    for (const candidate of candidates) {
      const tokens = [...candidate.parent.tokens, candidate.token];
      const key = tokens.join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      if (candidate.token === endOfText) {
        if (finished.length < beamSize) finished.push({ tokens: candidate.parent.tokens, sumLogprob: candidate.sumLogprob });
      } else if (next.length < beamSize) {
        next.push({ tokens, sumLogprob: candidate.sumLogprob, row: candidate.parent.row });
      }
      if (next.length >= beamSize && finished.length >= beamSize) break;
    }
    if (finished.length >= beamSize || next.length === 0 || prompt.length + next[0]!.tokens.length >= options.maxLength) {
      for (const beam of next) if (finished.length < beamSize) finished.push({ tokens: beam.tokens, sumLogprob: beam.sumLogprob });
      break;
    }
    // Next step: one row per surviving beam, cache rows reordered to follow their parents.
    let cache = step.cache;
    if (firstStep) {
      tiledHidden = sessions.tile(encoderHidden, next.length);
      const tiled = new Map<string, OnnxRuntime.Tensor>();
      for (const [name, tensor] of cache) tiled.set(name, sessions.tile(tensor, next.length));
      cache = tiled;
      firstStep = false;
    } else {
      cache = sessions.reorderCache(cache, next.map((beam) => beam.row));
      if (next.length !== beams.length) {
        for (const [name, tensor] of cache) if (name.includes('.encoder.')) cache.set(name, sessions.tile(sliceRow(tensor, sessions), next.length));
        tiledHidden = sessions.tile(sliceRow(tiledHidden, sessions), next.length);
      }
    }
    next.forEach((beam, index) => (beam.row = index));
    beams = next;
    step = await sessions.step(beams.map((beam) => beam.tokens.at(-1)!), beams.length, tiledHidden, cache, false);
  }
  let best = finished[0]!;
  let bestScore = -Infinity;
  for (const candidate of finished) {
    const score = candidate.sumLogprob / (candidate.tokens.length + 1);
    if (score > bestScore) {
      bestScore = score;
      best = candidate;
    }
  }
  return {
    tokens: best.tokens,
    sumLogprob: best.sumLogprob,
    avgLogprob: best.sumLogprob / (best.tokens.length + 1),
    noSpeechProb,
    temperature: 0,
  };
}

/** The first batch row of a tensor whose rows are all equal. */
function sliceRow(tensor: OnnxRuntime.Tensor, sessions: WhisperSessions): OnnxRuntime.Tensor {
  if (tensor.dims[0] === 1) return tensor;
  const data = tensor.data as Float32Array;
  const rowSize = data.length / tensor.dims[0]!;
  return sessions.tile(
    new (tensor.constructor as typeof OnnxRuntime.Tensor)(tensor.type as 'float32', data.slice(0, rowSize), [1, ...tensor.dims.slice(1)]),
    1,
  );
}

/** One window of a batch: its encoder output (`[1, positions, d]`) and its own decoding options. */
export interface BatchedWindow {
  encoderHidden: OnnxRuntime.Tensor;
  options: WindowDecodeOptions;
}

/** Windows that {@link decodeWindowsBatched} can step together: same prompt length, greedy or sampled. */
export function batchKey(options: WindowDecodeOptions, sessions: WhisperSessions): string | undefined {
  if (options.beamSize > 1 && options.temperature === 0) return undefined;
  const attention = options.alignmentHeads !== undefined && sessions.hasCrossAttentions;
  return `${options.prompt.length}:${attention}`;
}

/**
 * Greedy (or sampled) decoding of several windows as one batch: each decoder call steps
 * every sequence still running, each row with its own prompt, filters, temperature,
 * random source and cross-attention rows; a sequence leaves the batch when it ends (its
 * cache rows are dropped) and `settle(index, …)` is called for it at once. Every window
 * must have the same {@link batchKey}: the exported decoder has no attention mask, so the
 * rows' caches must have equal lengths. Each row's result is that of
 * {@link decodeWindow} on the window alone.
 */
export async function decodeWindowsBatched(
  sessions: WhisperSessions,
  windows: readonly BatchedWindow[],
  settle: (index: number, outcome: { result: WindowDecodeResult } | { error: unknown }) => void,
): Promise<void> {
  const wantAttention = windows[0]!.options.alignmentHeads !== undefined && sessions.hasCrossAttentions;
  const states = windows.map(({ options }) => ({
    options,
    generated: [] as number[],
    sumLogprob: 0,
    noSpeechProb: 0,
    attention: wantAttention ? options.alignmentHeads!.map(() => [] as Float32Array[]) : undefined,
  }));
  /** Window index of each batch row. */
  let rows = windows.map((_, index) => index);
  let hidden = sessions.stack(windows.map((window) => window.encoderHidden));
  // The batch's cross-attention buffers go back for the next batch however this ends.
  const crossRows = windows.length > 1 ? sessions.crossCacheRows(windows.length, windows[0]!.encoderHidden.dims[1]!) : undefined;
  try {
    await stepRows();
  } finally {
    crossRows?.release();
  }

  async function stepRows(): Promise<void> {
    let step: DecoderStepResult;
    try {
      step = await firstStep(sessions, windows, wantAttention, crossRows);
    } catch (error) {
      windows.forEach((_, index) => settle(index, { error }));
      return;
    }
    for (;;) {
      const { vocabulary, length } = step;
      const staying: number[] = [];
      const next: number[] = [];
      const running = rows.map((index, row) => {
        const state = states[index]!;
        const { options } = state;
        if (options.signal.aborted) {
          settle(index, { error: abortedError() });
          return undefined;
        }
        if (state.generated.length === 0 && options.noSpeech !== undefined) {
          const at = (row * length + options.startOfTranscriptIndex) * vocabulary;
          state.noSpeechProb = softmaxAt(step.logits.subarray(at, at + vocabulary), options.noSpeech);
        }
        return state;
      });
      let tokens: number[];
      try {
        tokens = await chooseTokens(sessions, step, running);
      } catch (error) {
        for (const [row, index] of rows.entries()) if (running[row]) settle(index, { error });
        releaseNow(step.logits);
        sessions.releaseSelfAttention(step.cache);
        return;
      }
      rows.forEach((index, row) => {
        const state = running[row];
        if (!state) return;
        const { options } = state;
        const { filters, prompt } = options;
        const token = tokens[row]!;
        if (state.attention) collectAttention(state.attention, step.crossAttentions, options.alignmentHeads!, row);
        if (token !== filters.endOfText && prompt.length + state.generated.length < options.maxLength) {
          staying.push(row);
          next.push(token);
          return;
        }
        settle(index, { result: windowResult(state, state.noSpeechProb, state.attention) });
      });
      if (staying.length === 0) {
        releaseNow(step.logits);
        sessions.releaseSelfAttention(step.cache);
        return;
      }
      let cache = step.cache;
      if (staying.length < rows.length) {
        cache = sessions.selectCacheRows(cache, staying, crossRows?.keep(staying));
        sessions.releaseSelfAttention(step.cache);
        hidden = sessions.selectRows(hidden, staying);
        rows = staying.map((row) => rows[row]!);
      }
      const spent = step.logits;
      try {
        step = await sessions.step(next, rows.length, hidden, cache, wantAttention);
      } catch (error) {
        for (const index of rows) settle(index, { error });
        return;
      }
      // This loop holds the only references to a step's logits and self-attention cache.
      releaseNow(spent);
      sessions.releaseSelfAttention(cache);
    }
  }
}

/**
 * The prompt step of a batch, one window at a time, its outputs then stacked on the batch
 * axis. This step computes the cross-attention keys and values from 1500 encoder frames
 * per window: compute-bound, it gains nothing from a batch (measured on base, 2 cores: a
 * 3-row prompt step took 1.3 to 2 × three single ones), while the steps after it do.
 */
async function firstStep(
  sessions: WhisperSessions,
  windows: readonly BatchedWindow[],
  wantAttention: boolean,
  crossRows: CrossCacheRows | undefined,
): Promise<DecoderStepResult> {
  if (windows.length === 1) return sessions.step(windows[0]!.options.prompt, 1, windows[0]!.encoderHidden, undefined, wantAttention);
  const steps: DecoderStepResult[] = [];
  for (const [row, window] of windows.entries()) {
    steps.push(await sessions.step(window.options.prompt, 1, window.encoderHidden, undefined, wantAttention, crossRows?.rowViews[row]));
  }
  const logits = new Float32Array(steps.reduce((sum, step) => sum + step.logits.length, 0));
  let offset = 0;
  for (const step of steps) {
    logits.set(step.logits, offset);
    offset += step.logits.length;
  }
  const cache: KeyValueCache = new Map();
  for (const name of steps[0]!.cache.keys()) cache.set(name, crossRows?.stacked.get(name) ?? sessions.stack(steps.map((step) => step.cache.get(name)!)));
  for (const step of steps) {
    releaseNow(step.logits);
    sessions.releaseSelfAttention(step.cache);
  }
  const result: DecoderStepResult = { logits, batch: windows.length, length: steps[0]!.length, vocabulary: steps[0]!.vocabulary, cache };
  if (steps[0]!.crossAttentions) {
    result.crossAttentions = steps[0]!.crossAttentions.map((layer, index) => {
      const data = new Float32Array(layer.data.length * steps.length);
      steps.forEach((step, row) => data.set(step.crossAttentions![index]!.data, row * layer.data.length));
      return { data, dims: [steps.length, ...layer.dims.slice(1)] };
    });
  }
  return result;
}
