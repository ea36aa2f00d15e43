import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@talkies/core';
import { ChunkedCodecDecoder } from './codec-stream.js';
import { embedPlan, generateFrames, predictFrame, type GenerationSettings } from './generation.js';
import { talkerSpecials, type TalkerSpecials } from './model-config.js';
import { readConfig, readTokenizer } from './model-files.js';
import { graphPaths } from './model-layout.js';
import { OrtRuntime } from './ort-runtime.js';
import { buildPrompt } from './prompt.js';
import { sample } from './sampler.js';
import { FIXTURE_SPEAKER_IDS, writeModel } from './testing/index.js';
import type { BpeTokenizer } from './bpe-tokenizer.js';

const greedy = { doSample: false, temperature: 0.9, topK: 50, topP: 1, repetitionPenalty: 1 };
const settings = (overrides: Partial<GenerationSettings> = {}): GenerationSettings => ({
  talker: greedy,
  predictor: greedy,
  maxNewTokens: 12,
  seed: 1,
  ...overrides,
});

let directory: string;
let runtime: OrtRuntime;
let specials: TalkerSpecials;
let tokenizer: BpeTokenizer;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'qwen3-generation-'));
  await writeModel(directory, 'custom_voice', '1b7');
  const paths = graphPaths(directory);
  runtime = await OrtRuntime.open({
    paths: {
      textProject: paths.textProject,
      codecEmbed: paths.codecEmbed,
      predictorEmbed: paths.predictorEmbed,
      talkerPrefill: paths.talkerPrefill,
      talkerDecode: paths.talkerDecode,
      predictor: paths.predictor,
      codecDecode: paths.codecDecode,
    },
    sessionOptions: { executionProviders: ['cpu'], intraOpNumThreads: 1 },
  });
  specials = talkerSpecials(await readConfig(directory));
  tokenizer = await readTokenizer(directory);
});

afterAll(async () => {
  await runtime?.release();
  await rm(directory, { recursive: true, force: true });
});

function plan(text = 'Hello there.') {
  return buildPrompt(tokenizer, specials, { mode: 'custom_voice', text, languageToken: specials.languages.english, speakerToken: FIXTURE_SPEAKER_IDS.ryan });
}

async function collect(frames: AsyncIterable<Int32Array>): Promise<Int32Array[]> {
  const all: Int32Array[] = [];
  for await (const frame of frames) all.push(frame);
  return all;
}

describe('generation on a generated model', () => {
  it('greedy decoding is deterministic and every code is in range', async () => {
    const first = await collect(generateFrames(runtime, specials, { plan: plan() }, settings()));
    const second = await collect(generateFrames(runtime, specials, { plan: plan() }, settings()));
    expect(first.length).toBe(12);
    expect(second).toEqual(first);
    for (const frame of first) {
      expect(frame.length).toBe(16);
      for (const code of frame) expect(code >= 0 && code < specials.codebookSize).toBe(true);
    }
    // Not a constant output: the frames differ.
    expect(new Set(first.map((frame) => frame.join(','))).size).toBeGreaterThan(1);
  });

  it('the cached talker gives the same logits and codes as the uncached graph on the whole prefix', async () => {
    const input = { plan: plan() };
    const frames = await collect(generateFrames(runtime, specials, input, settings({ maxNewTokens: 6 })));
    // Uncached: every step runs the prefill graph on the prompt plus all frames so far.
    const width = runtime.hiddenSize;
    const prompt = await embedPlan(runtime, specials, input);
    const trailing = await runtime.embedText([...input.plan.trailing, specials.ttsPad]);
    let sequence = Array.from(prompt);
    const random = seededRandom(1);
    for (let step = 0; step < frames.length; step++) {
      const uncached = await runtime.talkerPrefill(Float32Array.from(sequence), sequence.length / width);
      const logits = uncached.logits;
      for (let id = specials.codebookSize; id < logits.length; id++) if (id !== specials.codecEos) logits[id] = -Infinity;
      const code0 = sample(logits, greedy, random);
      expect(code0).toBe(frames[step]![0]);
      const { codes, embedding } = await predictFrame(runtime, specials, uncached.hidden, code0, greedy, random);
      expect(Array.from(codes)).toEqual(Array.from(frames[step]!));
      const offset = step < input.plan.trailing.length ? step * width : input.plan.trailing.length * width;
      for (let index = 0; index < width; index++) embedding[index]! += trailing[offset + index]!;
      sequence = sequence.concat(Array.from(embedding));
    }
  });

  it('the code predictor matches a straight-line run of the same graphs', async () => {
    const step = await runtime.talkerPrefill(await embedPlan(runtime, specials, { plan: plan() }), plan().rows.length);
    const code0 = 17;
    const { codes } = await predictFrame(runtime, specials, step.hidden, code0, greedy, () => 0);
    // Written out: rows are [hidden, embed(code0)], then one predictor embedding per code.
    const width = runtime.hiddenSize;
    const rows: number[] = [...step.hidden.slice(0, width), ...(await runtime.embedCodec([code0]))];
    const expected = [code0];
    for (let group = 0; group < 15; group++) {
      const logits = await runtime.predictorLogits(Float32Array.from(rows), rows.length / width, group);
      let best = 0;
      for (let id = 1; id < logits.length; id++) if (logits[id]! > logits[best]!) best = id;
      expected.push(best);
      rows.push(...(await runtime.embedPredictorCode(best, group)));
    }
    expect(Array.from(codes)).toEqual(expected);
  });

  it('a seeded sampled run repeats exactly, and another seed differs', async () => {
    const sampling = { doSample: true, temperature: 0.9, topK: 50, topP: 0.95, repetitionPenalty: 1.05 };
    const run = (seed: number) => collect(generateFrames(runtime, specials, { plan: plan() }, settings({ talker: sampling, predictor: sampling, seed })));
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
  });

  it('stops at max_new_tokens and when asked to stop', async () => {
    expect(await collect(generateFrames(runtime, specials, { plan: plan() }, settings({ maxNewTokens: 1 })))).toHaveLength(1);
    let stop = false;
    const frames: Int32Array[] = [];
    for await (const frame of generateFrames(runtime, specials, { plan: plan() }, settings({ maxNewTokens: 50 }), () => stop)) {
      frames.push(frame);
      if (frames.length === 3) stop = true;
    }
    expect(frames).toHaveLength(3);
  });

  it('ends by itself at codec_eos', async () => {
    const frames = await collect(generateFrames(runtime, specials, { plan: plan() }, settings({ maxNewTokens: 2048 })));
    expect(frames.length).toBeGreaterThan(20);
    expect(frames.length).toBeLessThan(100);
  });

  it('the chunked codec decode equals the whole-sequence decode away from the cross-fades', async () => {
    const frames = await collect(generateFrames(runtime, specials, { plan: plan() }, settings({ maxNewTokens: 30 })));
    const codes = new Int32Array(frames.length * 16);
    frames.forEach((frame, index) => codes.set(frame, index * 16));
    const whole = await runtime.decodeCodes(codes, frames.length);
    expect(whole.length).toBe(frames.length * 1920);
    const fade = 480;
    const decoder = new ChunkedCodecDecoder({ groups: 16, leftContext: 25, fadeSamples: fade, decode: (chunk, count) => runtime.decodeCodes(chunk, count) });
    const pieces: Float32Array[] = [];
    const seams: number[] = [];
    let emitted = 0;
    for (let index = 0; index < frames.length; index++) {
      decoder.push(frames[index]!);
      if (decoder.pending === 8 || index === frames.length - 1) {
        const piece = await decoder.flush(index === frames.length - 1);
        if (emitted > 0) seams.push((index + 1 - decoder.pending - 8) * 1920);
        pieces.push(piece);
        emitted += piece.length;
      }
    }
    const chunked = new Float32Array(emitted);
    let offset = 0;
    for (const piece of pieces) {
      chunked.set(piece, offset);
      offset += piece.length;
    }
    expect(chunked.length).toBe(whole.length);
    const nearSeam = (index: number) => seams.some((seam) => index >= seam - fade && index < seam);
    let fadeError = 0;
    for (let index = 0; index < whole.length; index++) {
      if (nearSeam(index)) fadeError = Math.max(fadeError, Math.abs(chunked[index]! - whole[index]!));
      else if (chunked[index] !== whole[index]) throw new Error(`sample ${index} differs: ${chunked[index]} vs ${whole[index]}`);
    }
    // In the fades both sides are the same exact audio, so the blend differs by rounding only.
    expect(fadeError).toBeLessThan(1e-5);
  });
});
