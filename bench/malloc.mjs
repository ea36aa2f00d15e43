#!/usr/bin/env node
/**
 * What glibc's allocator settings of `talkies serve` (packages/server/src/malloc-tuning.ts)
 * change for a Whisper model in its worker thread, as the server runs it.
 *
 * The model is `whisper-test-base` (whisper-base's dimensions, generated like
 * bench/whisper.mjs does into $TMPDIR/talkies-bench-whisper, shared with it). Each run is a
 * fresh process (the settings are the process's), in one of three modes, alternating,
 * `--runs` each:
 *
 *   start     `tuneMallocAtStart()` first, as `talkies serve` does: the process executes
 *             itself again with glibc's variables set;
 *   mallopt   `tuneMalloc()`: the same settings through `mallopt` in the running process;
 *   defaults  glibc's defaults.
 *
 * A run loads the engine as the server does (its worker thread, two onnxruntime threads by
 * default), warms up with one 30 s piece (random audio: the model always writes 102 tokens
 * a window) and one batch of eight, then transcribes `--requests` pieces one after the
 * other and two batches of eight with `transcribeBatch`. Reported: the median time of one
 * request and of a batch, the page faults of the process per request (the audio is made
 * before counting), and each mode's times over those of `start`.
 *
 *   node bench/malloc.mjs [--runs 3] [--requests 4] [--modes start,mallopt,defaults] [--model-dir DIR]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { importBuilt } from './lib/built.mjs';
import { MALLOC_NAMES } from './lib/malloc.mjs';

const SLUG = 'whisper-test-base';
const SECONDS = 30;
const SAMPLE_RATE = 16000;
const MODES = ['start', 'mallopt', 'defaults'];

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function child({ modelDir, requests, mode }) {
  const { tuneMalloc, tuneMallocAtStart } = await importBuilt('packages/server/dist/malloc-tuning.js');
  const tuning = mode === 'start' ? tuneMallocAtStart() : mode === 'mallopt' ? tuneMalloc() : { applied: false };
  const { default: engine } = await importBuilt('packages/engine-whisper/dist/index.js');
  const backend = engine.createBackend({
    modelId: SLUG, entry: { repo: `talkies-fixtures/${SLUG}`, executor: 'whisper' },
    options: engine.optionsSchema.parse({ temperatureFallback: false, download: false }),
    paths: { dataDir: dirname(dirname(modelDir)), modelDir }, logger: { debug() {}, info() {}, warn() {}, error() {} },
    signal: new AbortController().signal, now: () => performance.now(),
  });
  await backend.load();
  let seed = 1;
  const audio = () => Float32Array.from({ length: SECONDS * SAMPLE_RATE }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5) * 0.2);
  const request = () => ({ audio: audio(), sampleRate: SAMPLE_RATE, language: 'en', task: 'transcribe', timestamps: false, signal: new AbortController().signal });
  await backend.transcribe(request());
  await Promise.all(backend.transcribeBatch(Array.from({ length: 8 }, request)));
  // Every request's audio is made before the clock and the fault count start.
  const singles = Array.from({ length: requests }, request);
  const batches = Array.from({ length: 2 }, () => Array.from({ length: 8 }, request));
  const faults = () => process.resourceUsage().minorPageFault;
  const single = [];
  const before = faults();
  for (const pending of singles) {
    const started = performance.now();
    await backend.transcribe(pending);
    single.push(performance.now() - started);
  }
  const singleFaults = (faults() - before) / requests;
  const batchTimes = [];
  const batchFaultsBefore = faults();
  for (const batch of batches) {
    const started = performance.now();
    await Promise.all(backend.transcribeBatch(batch));
    batchTimes.push(performance.now() - started);
  }
  const batchFaults = (faults() - batchFaultsBefore) / (8 * batches.length);
  await backend.dispose();
  process.stdout.write(`${JSON.stringify({ tuning, singleMs: median(single), singleFaults, batchMs: Math.min(...batchTimes), batchFaults })}\n`);
}

async function main() {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, requests: { type: 'string', default: '4' }, modes: { type: 'string', default: MODES.join(',') }, 'model-dir': { type: 'string' }, child: { type: 'string' } } });
  const modelsRoot = values['model-dir'] ?? join(os.tmpdir(), 'talkies-bench-whisper');
  const modelDir = join(modelsRoot, 'models', SLUG);
  if (values.child) return child({ modelDir, requests: Number(values.requests), mode: values.child });
  const modes = values.modes.split(',');
  if (modes.length === 0 || modes.some((mode) => !MODES.includes(mode))) throw new Error(`--modes lists some of ${MODES.join(', ')}`);
  if (!existsSync(join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
    const { writeFixtures } = await importBuilt('packages/engine-whisper/dist/testing/index.js');
    await writeFixtures(modelsRoot, { only: new Set([SLUG]) });
  }
  const results = Object.fromEntries(modes.map((mode) => [mode, []]));
  for (let run = 0; run < Number(values.runs); run++) {
    // The order turns by one each run, so that no mode always runs first.
    for (const mode of modes.map((_, index) => modes[(index + run) % modes.length])) {
      const environment = { ...process.env };
      for (const name of [...MALLOC_NAMES, 'GLIBC_TUNABLES', 'TALKIES_MALLOC_TUNING']) delete environment[name];
      const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, '--requests', values.requests, '--model-dir', modelsRoot], { env: environment, maxBuffer: 1 << 20 });
      const result = JSON.parse(stdout.trim().split('\n').at(-1));
      const expected = { start: 'environment', mallopt: 'mallopt', defaults: undefined }[mode];
      if (result.tuning.via !== expected) throw new Error(`run ${run + 1} (${mode}): the allocator was ${result.tuning.applied ? `tuned through ${result.tuning.via}` : `not tuned (${result.tuning.reason ?? 'defaults'})`}`);
      results[mode].push(result);
      process.stderr.write(`run ${run + 1} ${mode.padEnd(8)} one request ${result.singleMs.toFixed(0)} ms (${Math.round(result.singleFaults)} faults), batch of 8 ${result.batchMs.toFixed(0)} ms (${Math.round(result.batchFaults)} faults a request)\n`);
    }
  }
  const summary = (mode) => ({
    single: median(results[mode].map((result) => result.singleMs)),
    batch: median(results[mode].map((result) => result.batchMs)),
    singleFaults: median(results[mode].map((result) => result.singleFaults)),
    batchFaults: median(results[mode].map((result) => result.batchFaults)),
  });
  const summaries = Object.fromEntries(modes.map((mode) => [mode, summary(mode)]));
  const lines = [
    `talkies malloc benchmark: ${SLUG} in its worker thread, ${SECONDS} s pieces, ${values.runs} runs per mode (fresh processes, alternating)`,
    `date      ${new Date().toISOString()}`,
    `machine   ${os.availableParallelism()} cores (${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}), load average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`,
    `node      ${process.version}`,
    '',
    'mode       one request (median)   faults/request   batch of 8 (median)   faults/request',
    ...modes.map((mode) => {
      const row = summaries[mode];
      return `${mode.padEnd(10)} ${row.single.toFixed(0).padStart(8)} ms ${Math.round(row.singleFaults).toString().padStart(18)} ${row.batch.toFixed(0).padStart(17)} ms ${Math.round(row.batchFaults).toString().padStart(16)}`;
    }),
  ];
  if (summaries.start) {
    lines.push('');
    for (const mode of modes.filter((name) => name !== 'start')) {
      lines.push(`${mode} / start: one request ${(summaries[mode].single / summaries.start.single).toFixed(2)}, batch of 8 ${(summaries[mode].batch / summaries.start.batch).toFixed(2)}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
