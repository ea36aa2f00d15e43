#!/usr/bin/env node
/**
 * Qwen3-TTS generation cost, on a generated model with 0.6B's real talker width (hidden
 * 1024, 8 KV heads × 128, vocabulary 3072, code predictor width 1024 with 15 heads of 2048)
 * and a reduced number of layers (random weights; the real file layout and tensor names).
 *
 * Per generated frame (80 ms of audio):
 *   talker     the KV-cached decode step (and the prompt's prefill, spread over the frames)
 *   predictor  the 15 code-predictor steps with their embeddings
 *   codec      the chunked codec decode (the fixture's codec is a toy: its cost is not the real one's)
 *
 * engine / bare: the engine's generation loop (prompt embedding, sampling, frame
 * embeddings, cache hand-over) against the same sequence of onnxruntime-node runs made
 * straight, with the tensors prepared beforehand. Target ≤ 1.15.
 *
 * Real-time factor scaled to the full model: talker time × 28 / layers, predictor time ×
 * 5 / predictor layers, plus codec, per 80 ms of audio (compute seconds per audio second;
 * below 1 is faster than real time). A projection, not a measurement of the real model.
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/qwen3-tts.mjs [--layers 2] [--predictor-layers 1] [--frames 48] [--rounds 3] [--threads N] [--provider cpu|cuda]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '2' },
    'predictor-layers': { type: 'string', default: '1' },
    frames: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string' },
    provider: { type: 'string', default: 'cpu' },
  },
});
const layers = Number(values.layers);
const predictorLayers = Number(values['predictor-layers']);
const frames = Number(values.frames);
const rounds = Number(values.rounds);
const threads = values.threads ? Number(values.threads) : os.availableParallelism();
const providers = values.provider === 'cuda' ? [{ name: 'cuda', deviceId: 0 }, 'cpu'] : ['cpu'];

const root = new URL('../packages/engine-qwen3-tts/dist/', import.meta.url);
const load = (path) => import(new URL(path, root).href);
const { writeModel } = await load('testing/index.js');
const { OrtRuntime } = await load('ort-runtime.js');
const { graphPaths } = await load('model-layout.js');
const { readConfig, readTokenizer } = await load('model-files.js');
const { talkerSpecials } = await load('model-config.js');
const { buildPrompt } = await load('prompt.js');
const { generateFrames, embedPlan } = await load('generation.js');
const { ChunkedCodecDecoder } = await load('codec-stream.js');
// The engine's own onnxruntime-node, as the engine resolves it.
const ort = await import(pathToFileURL(createRequire(new URL('../packages/engine-qwen3-tts/package.json', import.meta.url)).resolve('onnxruntime-node')).href);

const directory = await mkdtemp(join(os.tmpdir(), 'qwen3-bench-'));
try {
  const started = performance.now();
  // eosAfter past the frames wanted: every round generates exactly `frames` frames.
  await writeModel(directory, 'custom_voice', '0b6', { hiddenSize: 1024, heads: 8, layers, predictorLayers, eosAfter: 100_000 });
  process.stderr.write(`model written in ${Math.round(performance.now() - started)} ms (${layers} talker layers, ${predictorLayers} predictor layers)\n`);
  const sessionOptions = { executionProviders: providers, intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const paths = graphPaths(directory);
  const { speakerEncoder, codecEncode, ...modePaths } = paths;
  const runtime = await OrtRuntime.open({ paths: modePaths, sessionOptions });
  const specials = talkerSpecials(await readConfig(directory));
  const tokenizer = await readTokenizer(directory);
  const plan = buildPrompt(tokenizer, specials, { mode: 'custom_voice', text: 'The quick brown fox jumps over the lazy dog.', languageToken: specials.languages.english, speakerToken: specials.speakers.ryan });
  const sampling = { doSample: true, temperature: 0.9, topK: 50, topP: 1, repetitionPenalty: 1.05 };
  const settings = { talker: sampling, predictor: { ...sampling, repetitionPenalty: 1 }, maxNewTokens: frames, seed: 7 };

  const engineRun = async () => {
    const timings = { talker: 0, predictor: 0, embed: 0, codec: 0 };
    const decoder = new ChunkedCodecDecoder({
      groups: 16, leftContext: 25, fadeSamples: 480,
      decode: async (codes, count) => {
        const t = performance.now();
        const out = await runtime.decodeCodes(codes, count);
        timings.codec += performance.now() - t;
        return out;
      },
    });
    const t0 = performance.now();
    let count = 0;
    for await (const frame of generateFrames(runtime, specials, { plan }, settings, () => false, timings)) {
      decoder.push(frame);
      count++;
      if (decoder.pending >= (count <= 4 ? 4 : 8)) await decoder.flush(false);
    }
    await decoder.flush(true);
    return { total: performance.now() - t0, frames: count, timings };
  };

  // The same runs, straight: fixed inputs prepared beforehand, no sampling, no embedding sums.
  const sessions = {};
  for (const [name, path] of Object.entries(modePaths)) sessions[name] = await ort.InferenceSession.create(path, sessionOptions);
  const hidden = 1024;
  const ids = (values) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
  const step = (value) => new ort.Tensor('int64', BigInt64Array.of(BigInt(value)), [1]);
  const promptLength = plan.rows.length;
  const prompt = new ort.Tensor('float32', new Float32Array(promptLength * hidden).fill(0.01), [1, promptLength, hidden]);
  const one = new ort.Tensor('float32', new Float32Array(hidden).fill(0.01), [1, 1, hidden]);
  const predictorInputs = Array.from({ length: 15 }, (_, group) => new ort.Tensor('float32', new Float32Array((group + 2) * hidden).fill(0.01), [1, group + 2, hidden]));
  const bareRun = async () => {
    const t0 = performance.now();
    const textIds = plan.rows.filter((row) => row.text !== undefined).map((row) => row.text);
    await sessions.textProject.run({ input_ids: ids(textIds) });
    await sessions.codecEmbed.run({ input_ids: ids(plan.rows.filter((row) => row.codec !== undefined).map((row) => row.codec)) });
    await sessions.textProject.run({ input_ids: ids([...plan.trailing, specials.ttsPad]) });
    let result = await sessions.talkerPrefill.run({ inputs_embeds: prompt, attention_mask: ids(new Array(promptLength).fill(1)) });
    let length = promptLength;
    const codes = new Int32Array(frames * 16);
    let pending = 0;
    let decodedUpTo = 0;
    for (let frame = 0; frame < frames; frame++) {
      await sessions.codecEmbed.run({ input_ids: ids([1]) });
      for (let group = 0; group < 15; group++) {
        await sessions.predictor.run({ inputs_embeds: predictorInputs[group], generation_step: step(group) });
        await sessions.predictorEmbed.run({ input_ids: ids([1]), generation_step: step(group) });
      }
      pending++;
      if (pending >= (frame < 4 ? 4 : 8) || frame === frames - 1) {
        const first = Math.max(0, decodedUpTo - 25);
        const count = frame + 1 - first;
        await sessions.codecDecode.run({ audio_codes: new ort.Tensor('int64', new BigInt64Array(count * 16), [1, count, 16]) });
        decodedUpTo = frame + 1;
        pending = 0;
      }
      if (frame === frames - 1) break;
      const feeds = { inputs_embeds: one, attention_mask: ids(new Array(length + 1).fill(1)) };
      for (let layer = 0; layer < layers; layer++) {
        feeds[`past_key_${layer}`] = result[`present_key_${layer}`];
        feeds[`past_value_${layer}`] = result[`present_value_${layer}`];
      }
      result = await sessions.talkerDecode.run(feeds);
      length++;
    }
    void codes;
    return performance.now() - t0;
  };

  await engineRun();
  await bareRun();
  const engine = [];
  const bare = [];
  for (let round = 0; round < rounds; round++) {
    engine.push(await engineRun());
    bare.push(await bareRun());
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const best = engine.sort((a, b) => a.total - b.total)[Math.floor(engine.length / 2)];
  const perFrame = (ms) => ms / best.frames;
  const talker = perFrame(best.timings.talker);
  const predictor = perFrame(best.timings.predictor);
  const codec = perFrame(best.timings.codec);
  const totalPerFrame = perFrame(best.total);
  const bareTotal = median(bare);
  const scaled = talker * (28 / layers) + predictor * (5 / predictorLayers) + codec;
  const lines = [
    `Qwen3-TTS generation, 0.6B talker width, ${layers}/28 talker layers, ${predictorLayers}/5 predictor layers, ${best.frames} frames, ${threads} threads, ${values.provider}, median of ${rounds}`,
    `  per frame: total ${totalPerFrame.toFixed(1)} ms = talker ${talker.toFixed(1)} + predictor ${predictor.toFixed(1)} + codec ${codec.toFixed(1)} + rest ${(totalPerFrame - talker - predictor - codec).toFixed(1)} ms`,
    `  engine / bare onnxruntime runs: ${(best.total / bareTotal).toFixed(3)} (${best.total.toFixed(0)} ms / ${bareTotal.toFixed(0)} ms; target <= 1.15)`,
    `  scaled to 28 talker + 5 predictor layers: ${scaled.toFixed(0)} ms per 80 ms frame, real-time factor ${(scaled / 80).toFixed(2)} (compute s per audio s)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  await runtime.release();
  for (const session of Object.values(sessions)) await session.release();
} finally {
  await rm(directory, { recursive: true, force: true });
}
