#!/usr/bin/env node
/**
 * How fast is Parakeet TDT in @talkies/engine-nemo-onnx, against onnxruntime alone?
 *
 * The model is `parakeet-test-v3-dimensions` from the fixture generator: Parakeet TDT v3's
 * encoder output width (1024), vocabulary (8192 + blank), five durations and 640-wide
 * prediction state, in the onnx-asr layout (fp32 encoder with external data), with random
 * weights. Its encoder is a stack of convolutions much lighter than v3's 24 FastConformer
 * layers, so the real-time factor here is not v3's; what the run measures is what the engine
 * adds around the onnxruntime calls: front end, tensor plumbing, the TDT loop, timestamps.
 *
 * Input: jfk.wav (11 s) + 1 s of silence, five times = 60 s of 16 kHz speech (a synthetic
 * signal when ../shared is absent), cut by core's VAD chunker into the pieces the server sends.
 *
 *   ours   ParakeetModel.transcribe(piece) with timestamps (what NemoBackend.transcribe runs);
 *   bare   the exact onnxruntime calls `ours` made (same features, same encoder frames, same
 *          targets and states), replayed on the same sessions; only `await session.run()` is
 *          timed. This is the floor.
 *
 * Each round runs one timed pass of each, in alternating order; ratios are medians of the
 * per-round ratios.
 *
 *   node bench/nemo.mjs [--runs 5] [--model-dir DIR] [--threads N]
 *
 * Target: ours ≤ 1.10 × bare. Missing it is reported, not treated as a failure.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const SLUG = 'parakeet-test-v3-dimensions';
const TARGET = 1.1;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'model-dir': { type: 'string', default: join(os.tmpdir(), 'talkies-bench-nemo') },
    threads: { type: 'string' },
  },
});

function importBuilt(relativePath) {
  const path = join(root, relativePath);
  if (!existsSync(path)) throw new Error(`${relativePath} is missing; build first with \`pnpm exec tsc -b\``);
  return import(pathToFileURL(path).href);
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

function readWav(path) {
  const buffer = readFileSync(path);
  const data = buffer.indexOf('data', 12);
  const samples = new Float32Array((buffer.length - data - 8) / 2);
  for (let index = 0; index < samples.length; index++) samples[index] = buffer.readInt16LE(data + 8 + index * 2) / 32768;
  return samples;
}

function sixtySeconds() {
  const jfk = join(root, '..', 'shared', 'audio', 'jfk.wav');
  const speech = existsSync(jfk) ? readWav(jfk) : Float32Array.from({ length: 11 * 16000 }, (_, index) => 0.3 * Math.sin(0.00002 * index * index));
  const out = new Float32Array(60 * 16000);
  for (let copy = 0, offset = 0; copy < 5; copy++, offset += 12 * 16000) out.set(speech.subarray(0, 11 * 16000), offset);
  return { audio: out, source: existsSync(jfk) ? 'jfk.wav ×5 with 1 s pauses' : 'synthetic chirp ×5 (../shared absent)' };
}

const { writeFixtures } = await importBuilt('packages/engine-nemo-onnx/dist/testing/index.js');
const { ParakeetModel } = await importBuilt('packages/engine-nemo-onnx/dist/parakeet-runtime.js');
const { nemoOptionsSchema } = await importBuilt('packages/engine-nemo-onnx/dist/engine-options.js');
const { VadChunker, createSileroDetector, DEFAULT_LONG_AUDIO_OPTIONS } = await importBuilt('packages/core/dist/index.js');

const modelDir = join(values['model-dir'], 'models', SLUG);
if (!existsSync(join(modelDir, 'decoder_joint-model.onnx'))) {
  process.stderr.write(`writing ${SLUG} to ${values['model-dir']} …\n`);
  await writeFixtures(values['model-dir'], { only: new Set([SLUG]) });
}
const options = nemoOptionsSchema.parse({ threads: values.threads ? Number(values.threads) : undefined });
const loadStarted = performance.now();
const model = await ParakeetModel.load(modelDir, options);
const loadMs = performance.now() - loadStarted;

const { audio, source } = sixtySeconds();
const chunker = new VadChunker(() => createSileroDetector(), DEFAULT_LONG_AUDIO_OPTIONS);
const pieces = [];
for await (const chunk of chunker.chunks(audio)) pieces.push(chunk.audio);

// Record every onnxruntime call of one pass of ours.
const recorded = [];
for (const [name, session] of [['encoder', model.encoder], ['decoderJoint', model.decoderJoint]]) {
  const run = session.run.bind(session);
  session.run = async (feeds) => {
    if (recording) recorded.push({ name, feeds });
    return run(feeds);
  };
  session.originalRun = run;
}
let recording = true;
const signal = new AbortController().signal;
const ours = async () => {
  const started = performance.now();
  let text = '';
  for (const piece of pieces) text += (await model.transcribe({ audio: piece, sampleRate: 16000, task: 'transcribe', timestamps: true, signal })).text;
  return { ms: performance.now() - started, text };
};
const warm = await ours();
recording = false;
const sessions = { encoder: model.encoder, decoderJoint: model.decoderJoint };
const bare = async () => {
  let total = 0;
  for (const { name, feeds } of recorded) {
    const started = performance.now();
    await sessions[name].originalRun(feeds);
    total += performance.now() - started;
  }
  return { ms: total };
};
await bare();

const runs = Number(values.runs);
const ratios = [];
const oursTimes = [];
const bareTimes = [];
for (let round = 0; round < runs; round++) {
  const order = round % 2 === 0 ? [ours, bare] : [bare, ours];
  const results = new Map();
  for (const implementation of order) results.set(implementation, await implementation());
  oursTimes.push(results.get(ours).ms);
  bareTimes.push(results.get(bare).ms);
  ratios.push(results.get(ours).ms / results.get(bare).ms);
}
const decoderCalls = recorded.filter((call) => call.name === 'decoderJoint').length;
const report = {
  date: new Date().toISOString(),
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  input: `${source}: 60 s in ${pieces.length} VAD pieces`,
  model: `${SLUG} (encoder width 1024, vocabulary 8193, fp32, external data)`,
  loadMs: Math.round(loadMs),
  onnxCalls: { encoder: recorded.length - decoderCalls, decoderJoint: decoderCalls },
  textCharacters: warm.text.length,
  oursMedianMs: Math.round(median(oursTimes)),
  bareMedianMs: Math.round(median(bareTimes)),
  ratioOursToBare: Number(median(ratios).toFixed(3)),
  target: TARGET,
  met: median(ratios) <= TARGET,
  realTimeFactorOurs: Number((60 / (median(oursTimes) / 1000)).toFixed(1)),
  paperAnchor: 'onnx-asr docs/benchmarks.md: Parakeet TDT 0.6B v3 fp32 on CPU 35.4× real time (AMD Ryzen 7 9800X3D, 8 cores); int8 31.4×',
};
console.log(JSON.stringify(report, null, 2));
await model.release();
