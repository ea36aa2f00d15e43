#!/usr/bin/env node
/**
 * What glibc's allocator settings of `talkies serve` (packages/server/src/malloc-tuning.ts)
 * change for a Whisper model in its worker thread, as the server runs it.
 *
 * The model is `whisper-test-base` (whisper-base's dimensions, generated like
 * bench/whisper.mjs does into $TMPDIR/talkies-bench-whisper, shared with it). Each run is a
 * fresh process (the settings are the process's): tuned (`tuneMalloc()`, as the CLI does)
 * or with glibc's defaults (`TALKIES_MALLOC_TUNING=off`), the two alternating, `--runs`
 * each. A run loads the engine as the server does (its worker thread, two onnxruntime
 * threads by default), transcribes one 30 s piece (random audio: the model always writes
 * 102 tokens a window) once to warm up, then `--requests` times one after the other, then
 * eight at once with `transcribeBatch`. Reported: the median time of one request and of the
 * batch, the page faults of the process per request (the audio is made before counting),
 * and the ratios default / tuned.
 *
 *   node bench/malloc.mjs [--runs 3] [--requests 4] [--model-dir DIR]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { importBuilt } from './lib/built.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const SLUG = 'whisper-test-base';
const SECONDS = 30;
const SAMPLE_RATE = 16000;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function child({ modelDir, requests }) {
  const { tuneMalloc } = await importBuilt('packages/server/dist/index.js');
  const tuning = tuneMalloc();
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
  // Every request's audio is made before the clock and the fault count start.
  const singles = Array.from({ length: requests }, request);
  const batch = Array.from({ length: 8 }, request);
  const faults = () => process.resourceUsage().minorPageFault;
  const single = [];
  const before = faults();
  for (const pending of singles) {
    const started = performance.now();
    await backend.transcribe(pending);
    single.push(performance.now() - started);
  }
  const singleFaults = (faults() - before) / requests;
  const batchFaultsBefore = faults();
  const started = performance.now();
  await Promise.all(backend.transcribeBatch(batch));
  const batchMs = performance.now() - started;
  const batchFaults = (faults() - batchFaultsBefore) / 8;
  await backend.dispose();
  process.stdout.write(`${JSON.stringify({ tuned: tuning.applied, singleMs: median(single), singleFaults, batchMs, batchFaults })}\n`);
}

async function main() {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, requests: { type: 'string', default: '4' }, 'model-dir': { type: 'string' }, child: { type: 'boolean', default: false } } });
  const modelsRoot = values['model-dir'] ?? join(os.tmpdir(), 'talkies-bench-whisper');
  const modelDir = join(modelsRoot, 'models', SLUG);
  if (values.child) return child({ modelDir, requests: Number(values.requests) });
  if (!existsSync(join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
    const { writeFixtures } = await importBuilt('packages/engine-whisper/dist/testing/index.js');
    await writeFixtures(modelsRoot, { only: new Set([SLUG]) });
  }
  const results = { tuned: [], defaults: [] };
  for (let run = 0; run < Number(values.runs); run++) {
    for (const mode of run % 2 === 0 ? ['tuned', 'defaults'] : ['defaults', 'tuned']) {
      const environment = { ...process.env, TALKIES_MALLOC_TUNING: mode === 'tuned' ? 'on' : 'off' };
      for (const name of ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'GLIBC_TUNABLES']) delete environment[name];
      const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--child', '--requests', values.requests, '--model-dir', modelsRoot], { env: environment, maxBuffer: 1 << 20 });
      const result = JSON.parse(stdout.trim().split('\n').at(-1));
      if (result.tuned !== (mode === 'tuned')) throw new Error(`run ${run} (${mode}): the allocator was ${result.tuned ? '' : 'not '}tuned`);
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
  const tuned = summary('tuned');
  const defaults = summary('defaults');
  const lines = [
    `talkies malloc benchmark: ${SLUG} in its worker thread, ${SECONDS} s pieces, ${values.runs} runs per mode (fresh processes, alternating)`,
    `date      ${new Date().toISOString()}`,
    `machine   ${os.availableParallelism()} cores (${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}), load average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`,
    `node      ${process.version}`,
    '',
    'mode       one request (median)   faults/request   batch of 8 (median)   faults/request',
    `tuned      ${tuned.single.toFixed(0).padStart(8)} ms ${Math.round(tuned.singleFaults).toString().padStart(18)} ${tuned.batch.toFixed(0).padStart(17)} ms ${Math.round(tuned.batchFaults).toString().padStart(16)}`,
    `defaults   ${defaults.single.toFixed(0).padStart(8)} ms ${Math.round(defaults.singleFaults).toString().padStart(18)} ${defaults.batch.toFixed(0).padStart(17)} ms ${Math.round(defaults.batchFaults).toString().padStart(16)}`,
    '',
    `glibc defaults / tuned: one request ${(defaults.single / tuned.single).toFixed(2)}, batch of 8 ${(defaults.batch / tuned.batch).toFixed(2)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
