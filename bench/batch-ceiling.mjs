#!/usr/bin/env node
/**
 * How far can batching eight 30 s requests raise Whisper's throughput on this machine,
 * with no server at all? The ceiling of bench/concurrency's "8 clients / 1 client" ratio.
 *
 * The model is `whisper-test-base` from the fixture generator (whisper-base's dimensions,
 * random weights), generated into $TMPDIR/talkies-bench-whisper like bench/whisper.mjs and
 * bench/concurrency.mjs do (and shared with them). Only onnxruntime runs here, with the
 * engine's session settings (all graph optimisations, a thread per core), making the calls
 * the engine makes for one 30 s window:
 *
 *   one request   the encoder on one window, the prompt step (no-cache branch, 4 tokens),
 *                 then `--steps` one-row steps (cached branch), each fed the last one's
 *                 self-attention keys and values;
 *   a batch       the encoder and the prompt step once per window (as the engine does:
 *                 both are compute-bound and gain nothing stacked), their cross-attention
 *                 keys and values written straight into the batch's stacked buffers
 *                 (kept from batch to batch, as the engine keeps them), then `--steps`
 *                 steps of `--rows` rows.
 *
 * Like `talkies serve`, the script executes itself again at start with glibc's allocator
 * variables.
 *
 * Nothing else is timed: no HTTP, no audio decoding, no log-mel, no token choice, no
 * scheduling. Every cost this leaves out is paid per request in both cases, and a cost paid
 * per request lowers a ratio above 1; so `rows × one request / batch` is what a server
 * with no overhead at all would reach on these kernels, an upper bound for
 * bench/concurrency's ratio at the same single-request speed. It then prints the
 * eight-row step that 2× would need, against the step measured.
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/batch-ceiling.mjs [--rows 8] [--steps 102] [--repeats 5] [--threads N]
 *                                [--model-dir DIR] [--regenerate]
 *
 * Requests and batches alternate `--repeats` times; each phase reports its median.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importBuilt, root } from './lib/built.mjs';
import { quantile } from './lib/stats.mjs';
import { mallocSettings } from './lib/malloc.mjs';

const SLUG = 'whisper-test-base';
// As `talkies serve` does before anything else (TALKIES_MALLOC_TUNING=off: glibc's defaults).
const malloc = (await importBuilt('packages/server/dist/malloc-tuning.js')).tuneMallocAtStart();
const ort = createRequire(join(root, 'packages', 'engine-whisper', 'package.json'))('onnxruntime-node');

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '8' },
    steps: { type: 'string', default: '102' },
    repeats: { type: 'string', default: '5' },
    threads: { type: 'string' },
    'model-dir': { type: 'string' },
    regenerate: { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const steps = Number(values.steps);
const repeats = Number(values.repeats);
const threads = values.threads === undefined ? os.availableParallelism() : Number(values.threads);
for (const [name, value, least] of [['--rows', rows, 2], ['--steps', steps, 1], ['--repeats', repeats, 1], ['--threads', threads, 1]]) {
  if (!Number.isInteger(value) || value < least) throw new Error(`${name} must be a whole number of at least ${least}`);
}

const modelsRoot = values['model-dir'] ?? join(os.tmpdir(), 'talkies-bench-whisper');
const modelDir = join(modelsRoot, 'models', SLUG);
if (values.regenerate || !existsSync(join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
  const { writeFixtures } = await importBuilt('packages/engine-whisper/dist/testing/index.js');
  await writeFixtures(modelsRoot, { only: new Set([SLUG]) });
}

const sessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, logSeverityLevel: 3 };
const encoder = await ort.InferenceSession.create(join(modelDir, 'onnx', 'encoder_model.onnx'), sessionOptions);
const decoder = await ort.InferenceSession.create(join(modelDir, 'onnx', 'decoder_model_merged.onnx'), sessionOptions);
const cacheNames = decoder.inputNames.filter((name) => name.startsWith('past_key_values.'));
const wanted = decoder.outputNames.filter((name) => !name.startsWith('cross_attentions.'));
const hasUseCacheBranch = decoder.inputNames.includes('use_cache_branch');
// <|startoftranscript|><|en|><|transcribe|><|notimestamps|>, then an ordinary text token.
const PROMPT = [50258, 50259, 50359, 50363];
const TEXT_TOKEN = 440;

let seed = 7;
const features = new Float32Array(80 * 3000);
for (let index = 0; index < features.length; index++) features[index] = ((seed = (seed * 48271) % 2147483647) / 2147483647) * 1.6 - 0.8;

const tensor = (type, data, dims) => new ort.Tensor(type, data, dims);

/** One decoder call; `cache` undefined = the prompt step. Returns the next cache (self from the outputs, cross kept). */
async function decoderStep(tokens, batch, hidden, cache, dims, into = undefined) {
  const feeds = { input_ids: tensor('int64', BigInt64Array.from(tokens, BigInt), [batch, tokens.length / batch]), encoder_hidden_states: hidden };
  for (const name of cacheNames) feeds[name] = cache?.get(name) ?? tensor('float32', new Float32Array(0), [batch, dims.heads, 0, dims.headSize]);
  if (hasUseCacheBranch) feeds.use_cache_branch = tensor('bool', Uint8Array.of(cache ? 1 : 0), [1]);
  const fetches = Object.fromEntries(wanted.map((name) => [name, into?.get(name) ?? null]));
  const output = await decoder.run(feeds, fetches);
  const next = new Map();
  for (const name of cacheNames) {
    const presentName = name.replace('past_key_values', 'present');
    const present = into?.get(presentName) ?? output[presentName];
    next.set(name, name.includes('.encoder.') && cache ? cache.get(name) : present);
  }
  return next;
}

/** Stacks one-row tensors on the batch axis. */
function stack(tensors) {
  const size = tensors[0].data.length;
  const data = new Float32Array(size * tensors.length);
  tensors.forEach((one, row) => data.set(one.data, row * size));
  return tensor('float32', data, [tensors.length, ...tensors[0].dims.slice(1)]);
}

const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
const dims = { heads: config.decoder_attention_heads, headSize: config.d_model / config.decoder_attention_heads, frames: config.max_source_positions };

const crossBuffers = new Map();
/** A batch's stacked cross-attention tensors, and each row's view of them by output name; the buffers are kept for the next batch. */
function crossRows(count) {
  const rowSize = dims.heads * dims.frames * dims.headSize;
  const stacked = new Map();
  const views = Array.from({ length: count }, () => new Map());
  for (const name of cacheNames.filter((one) => one.includes('.encoder.'))) {
    let buffer = crossBuffers.get(name);
    if (!buffer || buffer.length < count * rowSize) crossBuffers.set(name, (buffer = new Float32Array(count * rowSize)));
    stacked.set(name, tensor('float32', buffer.subarray(0, count * rowSize), [count, dims.heads, dims.frames, dims.headSize]));
    for (const [row, view] of views.entries()) {
      view.set(name.replace('past_key_values', 'present'), tensor('float32', buffer.subarray(row * rowSize, (row + 1) * rowSize), [1, dims.heads, dims.frames, dims.headSize]));
    }
  }
  return { stacked, views };
}

/** The calls of `count` windows decoded together; `count` 1 is one request alone. Milliseconds per phase. */
async function windows(count) {
  let started = performance.now();
  const hiddens = [];
  for (let window = 0; window < count; window++) {
    hiddens.push((await encoder.run({ input_features: tensor('float32', features, [1, 80, 3000]) })).last_hidden_state);
  }
  const encoderMs = performance.now() - started;
  started = performance.now();
  const rowsInto = count > 1 ? crossRows(count) : undefined;
  const caches = [];
  for (const [window, hidden] of hiddens.entries()) caches.push(await decoderStep(PROMPT, 1, hidden, undefined, dims, rowsInto?.views[window]));
  const promptMs = performance.now() - started;
  let hidden = hiddens[0];
  let cache = caches[0];
  if (count > 1) {
    hidden = stack(hiddens);
    cache = new Map(cacheNames.map((name) => [name, name.includes('.encoder.') ? rowsInto.stacked.get(name) : stack(caches.map((one) => one.get(name)))]));
  }
  started = performance.now();
  const tokens = new Array(count).fill(TEXT_TOKEN);
  for (let step = 0; step < steps; step++) cache = await decoderStep(tokens, count, hidden, cache, dims);
  const stepsMs = performance.now() - started;
  return { encoderMs, promptMs, stepsMs, totalMs: encoderMs + promptMs + stepsMs };
}

process.stderr.write(`warming up (${SLUG}, ${threads} onnxruntime threads)\n`);
await windows(1);
await windows(rows);
const single = [];
const batch = [];
for (let repeat = 0; repeat < repeats; repeat++) {
  // Alternate which comes first, so that the machine's drift lands on both.
  if (repeat % 2 === 0) single.push(await windows(1)), batch.push(await windows(rows));
  else batch.push(await windows(rows)), single.push(await windows(1));
  process.stderr.write(`repeat ${repeat + 1}/${repeats}: one request ${single.at(-1).totalMs.toFixed(0)} ms, batch of ${rows} ${batch.at(-1).totalMs.toFixed(0)} ms\n`);
}
const median = (list, key) => quantile(list.map((entry) => entry[key]), 0.5);
const one = Object.fromEntries(['encoderMs', 'promptMs', 'stepsMs', 'totalMs'].map((key) => [key, median(single, key)]));
const many = Object.fromEntries(['encoderMs', 'promptMs', 'stepsMs', 'totalMs'].map((key) => [key, median(batch, key)]));
const ratios = single.map((entry, index) => (rows * entry.totalMs) / batch[index].totalMs).sort((a, b) => a - b);
const ceiling = quantile(ratios, 0.5);
// The batch's step time that would make the ratio 2, the rest of the batch as measured.
const neededStepMs = ((rows * one.totalMs) / 2 - many.encoderMs - many.promptMs) / steps;

const ms = (value) => `${(value / 1000).toFixed(3)} s`;
let report = `# bench/batch-ceiling: ${SLUG}, ${threads} onnxruntime threads, ${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}\n`;
report += `# glibc's allocator: ${mallocSettings(process.env, malloc)}\n`;
report += `# ${new Date().toISOString()}, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}; ${steps} steps a window, ${repeats} repeats (medians)\n\n`;
report += `phase              one request   batch of ${rows}   per window in the batch\n`;
for (const [label, key] of [['encoder', 'encoderMs'], ['prompt step', 'promptMs'], [`${steps} steps`, 'stepsMs'], ['all', 'totalMs']]) {
  report += `${label.padEnd(18)} ${ms(one[key]).padStart(11)}   ${ms(many[key]).padStart(10)}   ${ms(many[key] / rows).padStart(10)}\n`;
}
report += `\nstep: one row ${(one.stepsMs / steps).toFixed(2)} ms, ${rows} rows ${(many.stepsMs / steps).toFixed(2)} ms (${((many.stepsMs / one.stepsMs)).toFixed(2)} × one row)\n`;
report += `ceiling of ${rows} clients / 1 client: ${ceiling.toFixed(3)} (per repeat ${ratios.map((ratio) => ratio.toFixed(3)).join(', ')})\n`;
report += neededStepMs > 0
  ? `2× would need ${rows}-row steps of ${neededStepMs.toFixed(2)} ms (measured ${(many.stepsMs / steps).toFixed(2)} ms) with the encoder and prompt steps as measured\n`
  : `2× is out of reach whatever the ${rows}-row steps cost: the batch's encoder and prompt steps alone take more than ${rows} / 2 requests\n`;
process.stdout.write(report);
