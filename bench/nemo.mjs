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
 * signal when ../shared is absent), cut by core's VAD chunker into the pieces the server sends,
 * in the groups the chunker hands a batching backend (the first piece alone, then up to
 * `maxBatchSize` together).
 *
 *   worker  NemoBackend.transcribeBatch(group), timestamps on, default options: the model in
 *           its worker thread (front end, encoder, TDT loop there), the production path; the
 *           time includes copying the audio over and the results back.
 *   main    the same calls on a ParakeetModel on this thread (`inferenceThread: 'main'`):
 *           a group of one goes to transcribe(), a larger one to transcribeBatch(), as in
 *           the worker.
 *   bare    the exact onnxruntime calls `main` made (same features, same encoder frames,
 *           same targets and states), replayed on the same sessions; only
 *           `await session.run()` is timed. This is the floor.
 *
 * Each round runs one timed pass of each, in rotating order; ratios are medians of the
 * per-round ratios. The front end's own time (all pieces, one thread) is reported too: it is
 * part of `worker` and `main`, and not of `bare`.
 *
 *   node bench/nemo.mjs [--runs 5] [--model-dir DIR] [--threads N]
 *
 * Target: worker ≤ 1.10 × bare. Missing it is reported, not treated as a failure.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importBuilt, root } from './lib/built.mjs';

const SLUG = 'parakeet-test-v3-dimensions';
const TARGET = 1.1;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'model-dir': { type: 'string', default: join(os.tmpdir(), 'talkies-bench-nemo') },
    threads: { type: 'string' },
  },
});

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
const { default: engine } = await importBuilt('packages/engine-nemo-onnx/dist/index.js');
const { VadChunker, createSileroDetector, DEFAULT_LONG_AUDIO_OPTIONS } = await importBuilt('packages/core/dist/index.js');

const modelDir = join(values['model-dir'], 'models', SLUG);
if (!existsSync(join(modelDir, 'decoder_joint-model.onnx'))) {
  process.stderr.write(`writing ${SLUG} to ${values['model-dir']} …\n`);
  await writeFixtures(values['model-dir'], { only: new Set([SLUG]) });
}
const threads = values.threads ? Number(values.threads) : undefined;
const options = nemoOptionsSchema.parse({ threads, inferenceThread: 'main' });
const loadStarted = performance.now();
const model = await ParakeetModel.load(modelDir, options);
const loadMs = performance.now() - loadStarted;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const backend = engine.createBackend({
  modelId: SLUG,
  entry: { repo: `talkies-fixtures/${SLUG}`, executor: 'parakeet' },
  options: nemoOptionsSchema.parse({ threads, download: false }),
  fields: {},
  paths: { dataDir: values['model-dir'], modelDir },
  logger: quiet,
  signal: new AbortController().signal,
  now: () => Date.now(),
});
await backend.load();

const { audio, source } = sixtySeconds();
const chunker = new VadChunker(() => createSileroDetector(), DEFAULT_LONG_AUDIO_OPTIONS);
const pieces = [];
for await (const chunk of chunker.chunks(audio)) pieces.push(chunk.audio);
// The groups VadChunker hands a batching backend when the request names no language: the
// first piece alone (Parakeet reports no language, so the rest may then go together).
const batchSize = backend.capabilities.maxBatchSize ?? 1;
const groups = [pieces.slice(0, 1)];
for (let index = 1; index < pieces.length; index += batchSize) groups.push(pieces.slice(index, index + batchSize));

// Record every onnxruntime call of one pass of `main`.
const recorded = [];
let recording = true;
for (const [name, session] of [['encoder', model.encoder], ['decoderJoint', model.decoderJoint]]) {
  const run = session.run.bind(session);
  session.run = async (feeds) => {
    if (recording) recorded.push({ name, feeds });
    return run(feeds);
  };
  session.originalRun = run;
}
const signal = new AbortController().signal;
const ask = (piece) => ({ audio: piece, sampleRate: 16000, task: 'transcribe', timestamps: true, signal });
const textOf = (results) => JSON.stringify(results.map((result) => result.text));
const main = async () => {
  const started = performance.now();
  const results = [];
  for (const group of groups) {
    if (group.length === 1) results.push(await model.transcribe(ask(group[0])));
    else results.push(...(await Promise.all(model.transcribeBatch(group.map(ask)))));
  }
  return { ms: performance.now() - started, text: textOf(results) };
};
const worker = async () => {
  const started = performance.now();
  const results = [];
  for (const group of groups) results.push(...(await Promise.all(backend.transcribeBatch(group.map(ask)))));
  return { ms: performance.now() - started, text: textOf(results) };
};
const warm = await main();
recording = false;
const warmWorker = await worker();
if (warmWorker.text !== warm.text) throw new Error('the worker and the model on this thread disagree');
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
const frontEnd = async () => {
  const started = performance.now();
  for (const piece of pieces) model.frontEnd.compute(piece);
  return { ms: performance.now() - started };
};

const runs = Number(values.runs);
const contenders = { worker, main, bare, frontEnd };
const times = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
const ratios = { worker: [], main: [] };
for (let round = 0; round < runs; round++) {
  const names = Object.keys(contenders);
  const order = names.map((_, index) => names[(index + round) % names.length]);
  const results = {};
  for (const name of order) results[name] = await contenders[name]();
  for (const name of names) times[name].push(results[name].ms);
  ratios.worker.push(results.worker.ms / results.bare.ms);
  ratios.main.push(results.main.ms / results.bare.ms);
}
const decoderCalls = recorded.filter((call) => call.name === 'decoderJoint').length;
const ratio = median(ratios.worker);
const report = {
  date: new Date().toISOString(),
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  loadAverage: os.loadavg().map((value) => Number(value.toFixed(2))),
  input: `${source}: 60 s in ${pieces.length} VAD pieces, sent in groups of ${groups.map((group) => group.length).join(' + ')}`,
  model: `${SLUG} (encoder width 1024, vocabulary 8193, fp32, external data)`,
  loadMs: Math.round(loadMs),
  onnxCalls: { encoder: recorded.length - decoderCalls, decoderJoint: decoderCalls },
  textCharacters: JSON.parse(warm.text).join('').length,
  workerMedianMs: Math.round(median(times.worker)),
  mainMedianMs: Math.round(median(times.main)),
  bareMedianMs: Math.round(median(times.bare)),
  frontEndMedianMs: Math.round(median(times.frontEnd)),
  ratioWorkerToBare: Number(ratio.toFixed(3)),
  ratioMainToBare: Number(median(ratios.main).toFixed(3)),
  target: TARGET,
  met: ratio <= TARGET,
  realTimeFactorWorker: Number((60 / (median(times.worker) / 1000)).toFixed(1)),
  paperAnchor: 'onnx-asr docs/benchmarks.md: Parakeet TDT 0.6B v3 fp32 on CPU 35.4× real time (AMD Ryzen 7 9800X3D, 8 cores); int8 31.4×',
};
console.log(JSON.stringify(report, null, 2));
await backend.dispose();
await model.release();
