/**
 * The generation loop over a {@link Qwen3Runtime}: embed the prompt plan, prefill the
 * talker, then per frame pick codebook 0 from the talker, codebooks 1–15 from the code
 * predictor's 15 steps, and feed the frame's summed embeddings plus the next text token
 * (or `tts_pad`) back to the talker. Stops at `codec_eos`, at `maxNewTokens` frames, or
 * as soon as `shouldStop()` says so.
 */
import { seededRandom } from '@talkies/core';
import type { TalkerSpecials } from './model-config.js';
import type { PromptPlan } from './prompt.js';
import type { Qwen3Runtime } from './runtime.js';
import { applyRepetitionPenalty, sample, type SamplingSettings } from './sampler.js';

export interface GenerationSettings {
  /** Talker sampling (codebook 0). */
  talker: SamplingSettings;
  /** Code predictor sampling (codebooks 1–15). */
  predictor: SamplingSettings;
  maxNewTokens: number;
  seed: number;
}

export interface GenerationInput {
  plan: PromptPlan;
  /** The x-vector, when the plan has a speaker row. */
  speaker?: Float32Array;
  /** Reference codes (frame-major), when the plan has reference rows. */
  reference?: { codes: Int32Array; frames: number };
}

/** Where time goes, in milliseconds (for the benchmark). */
export interface GenerationTimings {
  talker: number;
  predictor: number;
  embed: number;
}

function addInto(target: Float32Array, source: Float32Array, sourceOffset = 0): void {
  for (let index = 0; index < target.length; index++) target[index]! += source[sourceOffset + index]!;
}

/** The embedding of a whole frame (all code groups summed), as the talker takes it back. */
async function frameEmbedding(runtime: Qwen3Runtime, codes: Int32Array, offset: number, groups: number): Promise<Float32Array> {
  const sum = await runtime.embedCodec([codes[offset]!]);
  for (let group = 1; group < groups; group++) addInto(sum, await runtime.embedPredictorCode(codes[offset + group]!, group - 1));
  return sum;
}

/** The talker's prompt embeddings for a plan. */
export async function embedPlan(runtime: Qwen3Runtime, specials: TalkerSpecials, input: GenerationInput): Promise<Float32Array> {
  const hidden = runtime.hiddenSize;
  const { rows } = input.plan;
  const embeds = new Float32Array(rows.length * hidden);
  const textRows = rows.flatMap((row, index) => (row.text === undefined ? [] : [index]));
  const codecRows = rows.flatMap((row, index) => (row.codec === undefined ? [] : [index]));
  if (textRows.length > 0) {
    const text = await runtime.embedText(textRows.map((index) => rows[index]!.text!));
    textRows.forEach((row, index) => addInto(embeds.subarray(row * hidden, (row + 1) * hidden), text, index * hidden));
  }
  if (codecRows.length > 0) {
    const codec = await runtime.embedCodec(codecRows.map((index) => rows[index]!.codec!));
    codecRows.forEach((row, index) => addInto(embeds.subarray(row * hidden, (row + 1) * hidden), codec, index * hidden));
  }
  for (let row = 0; row < rows.length; row++) {
    const target = embeds.subarray(row * hidden, (row + 1) * hidden);
    if (rows[row]!.speaker) {
      if (!input.speaker || input.speaker.length !== hidden) throw new Error(`the x-vector has ${input.speaker?.length ?? 0} values; the talker takes ${hidden}`);
      addInto(target, input.speaker);
    }
    const frame = rows[row]!.referenceFrame;
    if (frame !== undefined) {
      if (!input.reference || frame >= input.reference.frames) throw new Error('the prompt names a reference frame that was not given');
      addInto(target, await frameEmbedding(runtime, input.reference.codes, frame * specials.codeGroups, specials.codeGroups));
    }
  }
  return embeds;
}

/** Codebooks 1–15 of one frame, from the talker's hidden state and codebook 0. */
export async function predictFrame(
  runtime: Qwen3Runtime,
  specials: TalkerSpecials,
  hidden: Float32Array,
  code0: number,
  settings: SamplingSettings,
  random: () => number,
): Promise<{ codes: Int32Array; embedding: Float32Array }> {
  const width = runtime.hiddenSize;
  const groups = specials.codeGroups;
  const rows = new Float32Array((groups + 1) * width);
  rows.set(hidden.subarray(0, width), 0);
  const code0Embedding = await runtime.embedCodec([code0]);
  rows.set(code0Embedding, width);
  const embedding = Float32Array.from(code0Embedding);
  const codes = new Int32Array(groups);
  codes[0] = code0;
  for (let group = 0; group < groups - 1; group++) {
    const logits = await runtime.predictorLogits(rows.subarray(0, (group + 2) * width), group + 2, group);
    const code = sample(logits, settings, random);
    codes[group + 1] = code;
    const codeEmbedding = await runtime.embedPredictorCode(code, group);
    addInto(embedding, codeEmbedding);
    if (group < groups - 2) rows.set(codeEmbedding, (group + 2) * width);
  }
  return { codes, embedding };
}

/** Yields one frame of codes (code groups long) at a time. */
export async function* generateFrames(
  runtime: Qwen3Runtime,
  specials: TalkerSpecials,
  input: GenerationInput,
  settings: GenerationSettings,
  shouldStop: () => boolean = () => false,
  timings?: GenerationTimings,
): AsyncGenerator<Int32Array, void, undefined> {
  const clock = () => performance.now();
  let started = clock();
  const prompt = await embedPlan(runtime, specials, input);
  const trailing = await runtime.embedText([...input.plan.trailing, specials.ttsPad]);
  const width = runtime.hiddenSize;
  const padOffset = input.plan.trailing.length * width;
  if (timings) timings.embed += clock() - started;
  const random = seededRandom(settings.seed);
  started = clock();
  let step = await runtime.talkerPrefill(prompt, input.plan.rows.length);
  if (timings) timings.talker += clock() - started;
  const previous: number[] = [];
  for (let frame = 0; frame < settings.maxNewTokens; frame++) {
    if (shouldStop()) return;
    const logits = step.logits;
    // Only audio codes and codec_eos may follow: the other control tokens belong to the prompt.
    for (let id = specials.codebookSize; id < logits.length; id++) if (id !== specials.codecEos) logits[id] = -Infinity;
    applyRepetitionPenalty(logits, previous, settings.talker.repetitionPenalty);
    const code0 = sample(logits, settings.talker, random);
    if (code0 === specials.codecEos) return;
    previous.push(code0);
    started = clock();
    const { codes, embedding } = await predictFrame(runtime, specials, step.hidden, code0, settings.predictor, random);
    if (timings) timings.predictor += clock() - started;
    yield codes;
    if (frame + 1 >= settings.maxNewTokens || shouldStop()) return;
    addInto(embedding, trailing, frame < input.plan.trailing.length ? frame * width : padOffset);
    started = clock();
    step = await runtime.talkerDecode(embedding);
    if (timings) timings.talker += clock() - started;
  }
}
