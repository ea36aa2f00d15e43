#!/usr/bin/env node
/**
 * Text-to-speech latency and throughput, for espeak and for the generated Kokoro model.
 *
 * For a 5-sentence paragraph, against a real talkies server started in this process
 * (loopback, an ephemeral port), per model:
 *
 *   first sentence alone   the engine synthesising only the paragraph's first sentence,
 *                          called in-process (no HTTP, no encoding), and the first byte
 *                          of the same sentence streamed over HTTP;
 *   TTFB streaming         POST /v1/audio/speech with stream_format "audio": time until the
 *                          first byte of audio arrives (pcm, wav and mp3);
 *   whole clip             the same request without streaming: time until the answer
 *                          (which has all of its bytes at once);
 *   RTF                    synthesis time / audio duration (in-process and over HTTP);
 *   bare session           Kokoro only: the same model pieces run through a bare
 *                          onnxruntime-node InferenceSession in this process, with the
 *                          phonemes computed beforehand, so the ratio end-to-end / bare is
 *                          everything talkies adds: espeak-ng G2P, the worker thread,
 *                          encoding and HTTP.
 *
 * Targets: streaming first byte within 1.3x the first sentence's synthesis time alone,
 * end-to-end within 1.15x the bare session time. Missing them is reported, not a failure.
 *
 * The Kokoro model is the fixture of `pnpm fixtures` (random weights, real tensor names
 * and voice tables). By default it gets wide per-token layers so that its cost per second
 * of audio is of the order of the real model's on a CPU (--layers 0 for the tiny test
 * model). Numbers for the real Kokoro-82M need its files: see docs/benchmarks.md.
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/tts.mjs [--rounds 3] [--hidden-size 2048] [--layers 80] [--threads N]
 *
 * Exits 1 if a request failed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { importBuilt, root } from './lib/built.mjs';

const FIRST_BYTE_TARGET = 1.3;
const OVERHEAD_TARGET = 1.15;
const PARAGRAPH = [
  'The library opens at nine in the morning and closes late in the evening.',
  'Visitors can borrow up to twelve books at a time, for three weeks each.',
  'On the second floor, quiet rooms can be booked for study groups of four or more.',
  'Ask at the front desk if you need help finding a title, or want to order one from another branch.',
  'We hope you enjoy your visit, and that you come back soon!',
];
const TEXT = PARAGRAPH.join(' ');

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      'hidden-size': { type: 'string', default: '2048' },
      layers: { type: 'string', default: '80' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
    },
  });
  const options = { rounds: Number(values.rounds), hiddenSize: Number(values['hidden-size']), layers: Number(values.layers), threads: Number(values.threads) };
  for (const [name, value, minimum] of [['rounds', options.rounds, 1], ['hidden-size', options.hiddenSize, 1], ['layers', options.layers, 0], ['threads', options.threads, 1]]) {
    if (!Number.isInteger(value) || value < minimum) throw new Error(`--${name} must be a whole number of at least ${minimum}`);
  }
  return options;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** POSTs a speech request; resolves to the times of the first and the last byte (ms) and the bytes. */
async function timedSpeech(url, body) {
  const started = performance.now();
  const response = await fetch(`${url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const reader = response.body.getReader();
  let firstByte;
  const parts = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    firstByte ??= performance.now() - started;
    parts.push(value);
  }
  return { firstByte, total: performance.now() - started, bytes: Buffer.concat(parts) };
}

async function measureModel({ url, slug, voice, backend, rounds, bare }) {
  const results = { firstSentence: [], firstSentenceTtfb: [], ttfb: { pcm: [], wav: [], mp3: [] }, streamTotal: [], whole: { wav: [], mp3: [] }, inProcess: [], bare: [], audioSeconds: 0 };
  const signal = () => new AbortController().signal;
  // Warm-up: page cache, JIT, ffmpeg and espeak-ng binaries, the encoder's sample-rate guess.
  await backend.synthesize({ text: TEXT, voice, speed: 1, signal: signal() });
  for (const format of ['pcm', 'wav', 'mp3']) await timedSpeech(url, { model: slug, voice, input: TEXT, response_format: format, stream_format: 'audio' });
  await timedSpeech(url, { model: slug, voice, input: TEXT, response_format: 'wav' });
  if (bare) await bare.run();
  // Everything is measured in every round, one after the other, so that the load of the
  // machine (it may be shared) lands on all of it alike.
  for (let round = 0; round < rounds; round++) {
    if (bare) results.bare.push(await bare.run());
    let started = performance.now();
    await backend.synthesize({ text: PARAGRAPH[0], voice, speed: 1, signal: signal() });
    results.firstSentence.push(performance.now() - started);
    results.firstSentenceTtfb.push((await timedSpeech(url, { model: slug, voice, input: PARAGRAPH[0], response_format: 'pcm', stream_format: 'audio' })).firstByte);
    started = performance.now();
    const clip = await backend.synthesize({ text: TEXT, voice, speed: 1, signal: signal() });
    results.inProcess.push(performance.now() - started);
    results.audioSeconds = clip.samples.length / clip.sampleRate;
    for (const format of ['pcm', 'wav', 'mp3']) {
      const streamed = await timedSpeech(url, { model: slug, voice, input: TEXT, response_format: format, stream_format: 'audio' });
      results.ttfb[format].push(streamed.firstByte);
      if (format === 'wav') results.streamTotal.push(streamed.total);
    }
    for (const format of ['wav', 'mp3']) results.whole[format].push((await timedSpeech(url, { model: slug, voice, input: TEXT, response_format: format })).total);
  }
  return results;
}

/** The paragraph's model pieces run through a bare InferenceSession (phonemes prepared beforehand). */
async function bareSession({ modelDir, threads }) {
  const [{ tokenPieces }, { KOKORO_LANGUAGES }, { modelFiles, STYLE_WIDTH, STYLE_ROWS }, { boundaryIds, styleRow }] = await Promise.all([
    importBuilt('packages/engine-kokoro/dist/synthesis-pipeline.js'),
    importBuilt('packages/engine-kokoro/dist/languages.js'),
    importBuilt('packages/engine-kokoro/dist/model-layout.js'),
    importBuilt('packages/engine-kokoro/dist/phoneme-tokens.js'),
  ]);
  const files = modelFiles('bench', modelDir, 'bench', { layout: 'onnx-community' });
  const vocabulary = await files.vocabulary();
  const pieces = [];
  for await (const piece of tokenPieces({ text: TEXT, language: KOKORO_LANGUAGES.a, runtime: { vocabulary, boundaries: boundaryIds(vocabulary) }, signal: new AbortController().signal })) {
    pieces.push(piece.ids);
  }
  const table = await files.voiceTable('af_heart');
  const ortPath = createRequireFrom('packages/engine-kokoro/package.json').resolve('onnxruntime-node');
  const imported = await import(pathToFileURL(ortPath).href);
  const ort = imported.InferenceSession ? imported : imported.default;
  const session = await ort.InferenceSession.create(await files.modelPath(), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feeds = pieces.map((ids) => {
    const tokens = BigInt64Array.from([0, ...ids, 0].map(BigInt));
    const row = styleRow(tokens.length, STYLE_ROWS);
    return {
      input_ids: new ort.Tensor('int64', tokens, [1, tokens.length]),
      style: new ort.Tensor('float32', table.slice(row * STYLE_WIDTH, (row + 1) * STYLE_WIDTH), [1, STYLE_WIDTH]),
      speed: new ort.Tensor('float32', Float32Array.of(1), [1]),
    };
  });
  const run = async () => {
    const started = performance.now();
    for (const feed of feeds) await session.run(feed);
    return performance.now() - started;
  };
  return { pieces: pieces.length, run, release: () => session.release() };
}

let createRequireFrom;

async function main() {
  let options;
  try {
    options = parseOptions();
  } catch (error) {
    console.error(`tts: ${error.message}`);
    return 2;
  }
  const { createRequire } = await import('node:module');
  createRequireFrom = (relative) => createRequire(join(root, relative));
  const [{ startServer }, { writeFixtures }] = await Promise.all([
    importBuilt('packages/server/dist/index.js'),
    importBuilt('packages/engine-kokoro/dist/testing/index.js'),
  ]);
  const loadAtStart = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  const dataDir = await mkdtemp(join(os.tmpdir(), 'talkies-bench-tts-'));
  let server;
  try {
    await writeFixtures(dataDir, { only: new Set(['kokoro-82m']), hiddenSize: options.hiddenSize, layers: options.layers, voices: ['af_heart'] });
    const modelsFile = join(dataDir, 'models.json');
    const models = {
      espeak: { repo: 'espeak-ng', executor: 'espeak', modality: 'tts', default_voice: 'en-us' },
      'kokoro-82m': { repo: 'onnx-community/Kokoro-82M-v1.0-ONNX', executor: 'kokoro', modality: 'tts', default_voice: 'af_heart', engineOptions: { threads: options.threads } },
    };
    await writeFile(modelsFile, JSON.stringify({ models }, null, 2));
    server = await startServer({
      environment: {},
      config: {
        host: '127.0.0.1', port: 0, modelsFile, dataDir, logLevel: 'warn', enabledModels: [],
        preload: ['espeak', 'kokoro-82m'], maxLoadedModels: 2, sweeperIntervalSeconds: 0,
      },
      pluginBaseDirectories: [root],
    });
    const bare = await bareSession({ modelDir: join(dataDir, 'models', 'kokoro-82m'), threads: options.threads });
    const measured = {};
    for (const [slug, voice] of [['espeak', 'en-us'], ['kokoro-82m', 'af_heart']]) {
      const backend = server.catalog.get(slug).backend;
      measured[slug] = await measureModel({ url: server.url, slug, voice, backend, rounds: options.rounds, bare: slug === 'kokoro-82m' ? bare : undefined });
    }
    await bare.release();

    const ms = (value) => `${value.toFixed(1)} ms`;
    const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
    console.log('talkies TTS benchmark: a 5-sentence paragraph, streaming against whole clips');
    console.log(`date      ${new Date().toISOString()}`);
    console.log(`machine   ${os.availableParallelism()} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}`);
    console.log(`node      ${process.version}; ${options.rounds} rounds after a warm-up, medians; load average at the start ${loadAtStart}`);
    console.log(`text      ${TEXT.length} characters, ${PARAGRAPH.length} sentences; first sentence ${PARAGRAPH[0].length} characters`);
    console.log(`kokoro    generated model, ${options.layers} layers of ${options.hiddenSize} per token, ${options.threads} onnxruntime threads, voice af_heart`);
    let met = true;
    for (const [slug, result] of Object.entries(measured)) {
      const first = median(result.firstSentence);
      const inProcess = median(result.inProcess);
      const wholeWav = median(result.whole.wav);
      console.log('');
      console.log(`${slug}: ${result.audioSeconds.toFixed(2)} s of audio`);
      console.log(`  first sentence alone (in-process)   ${ms(first)}`);
      console.log(`  first sentence alone, streamed pcm  ${ms(median(result.firstSentenceTtfb))}  (first byte; the server's own streaming cost)`);
      for (const format of ['pcm', 'wav', 'mp3']) {
        const ttfb = median(result.ttfb[format]);
        const ratio = ttfb / first;
        if (ratio > FIRST_BYTE_TARGET) met = false;
        console.log(`  TTFB streaming ${format.padEnd(4)}                 ${ms(ttfb)}  (${ratio.toFixed(2)}x first sentence; target <= ${FIRST_BYTE_TARGET})`);
      }
      console.log(`  streaming wav, last byte            ${ms(median(result.streamTotal))}`);
      console.log(`  whole clip wav / mp3                ${ms(wholeWav)} / ${ms(median(result.whole.mp3))}  (first byte = last byte)`);
      console.log(`  RTF in-process / over HTTP (wav)    ${(inProcess / 1000 / result.audioSeconds).toFixed(3)} / ${(wholeWav / 1000 / result.audioSeconds).toFixed(3)}`);
      if (slug === 'kokoro-82m') {
        const bareTime = median(result.bare);
        const overhead = wholeWav / bareTime;
        if (overhead > OVERHEAD_TARGET) met = false;
        console.log(`  bare onnxruntime session            ${ms(bareTime)}  (${bare.pieces} model calls, phonemes prepared beforehand)`);
        console.log(`  end-to-end / bare                   ${overhead.toFixed(2)}x over HTTP (wav), ${(inProcess / bareTime).toFixed(2)}x in-process; target <= ${OVERHEAD_TARGET}`);
      }
    }
    console.log('');
    console.log(`targets: ${met ? 'met' : 'NOT all met'}`);
    return 0;
  } catch (error) {
    console.error(`tts: ${error?.stack ?? error}`);
    return 1;
  } finally {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
process.exit();
