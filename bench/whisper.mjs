#!/usr/bin/env node
/**
 * How fast is the Whisper engine, against transformers.js and against onnxruntime alone?
 *
 * The model is `whisper-test-base` from the fixture generator: whisper-base's real
 * dimensions (d_model 512, 6 + 6 layers, 8 heads, 80 mel bins, vocabulary 51865) in the
 * onnx-community layout, with random weights. Its text is junk, but the compute is the real
 * model's, and it stops after 102 text tokens per window like dense speech.
 *
 * Input: jfk.wav (11 s) + 1 s of silence, five times = 60 s of 16 kHz speech, cut by
 * core's VAD chunker into the pieces the server sends a `longForm: false` backend (fixed
 * 30 s pieces when core has no chunker). The same pieces go through four implementations:
 *
 *   ours   @talkies/engine-whisper: WhisperBackend.transcribe(piece), language en, no
 *          timestamps, no temperature fallback (random weights would fail every check);
 *   tjs    @huggingface/transformers' automatic-speech-recognition pipeline on the same
 *          files (local only, fp32), pipe(piece, { language: 'en' }), with the same
 *          onnxruntime thread count as ours (session_options.intraOpNumThreads);
 *   tjs-default  the same, with onnxruntime's own thread default, as transformers.js comes
 *          (on the 2-core VM of docs/benchmarks.md that default is one thread);
 *   batched  @talkies/engine-whisper with batched inference: WhisperBackend.transcribeBatch(pieces),
 *          the call core's VadChunker makes for the engine (groups of capabilities.maxBatchSize):
 *          the engine's batched decoding: decoder steps shared by the sequences still running;
 *          same settings as ours, and its text must be ours';
 *   bare   the exact onnxruntime calls `ours` made (same features, same token ids, same
 *          KV-cache hand-over), replayed on fresh sessions; only `await session.run()` is
 *          timed. This is the floor.
 *
 * Each implementation runs in its own process, loaded and warmed up (one pass) before the
 * timing starts. Then `--runs` rounds: each round runs one timed pass of every
 * implementation, in a rotating order, one at a time, so that load from elsewhere on the
 * machine falls on all three alike; ratios are medians of the per-round ratios. Peak RSS is
 * each process's maximum resident set (model load, warm-up and the timed passes).
 * Reported: median and fastest wall time per 60 s, real-time factor, ratios, peak RSS,
 * load time, and whether ours and transformers.js produced the same text.
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/whisper.mjs [--runs 6] [--modes ours,batched,tjs,tjs-default,bare] [--thread worker|main] [--threads N] [--model-dir DIR] [--regenerate] [--json FILE]
 *
 * --threads: onnxruntime intra-op threads for ours, batched, bare and tjs (default: the
 * engine's, core's defaultInferenceThreads(): one per physical core).
 *
 * ours and batched are timed as the server runs them, with onnxruntime in the model's
 * worker thread (`--thread main`: on the calling thread); the calls bare replays are
 * recorded in one extra, untimed pass on the main thread.
 *
 * Targets: ours ≤ 1.15 × bare (the real bar), and faster than transformers.js, aiming for
 * ≤ 0.8 ×; batched ≤ 0.6 × transformers.js. Missing them is reported, not treated as a
 * failure.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { mallocSettings } from './lib/malloc.mjs';
import { importBuilt, root } from './lib/built.mjs';

const SLUG = 'whisper-test-base';
const SAMPLE_RATE = 16000;
const TARGET_BARE = 1.15;
const TARGET_TJS = 0.8;
const TARGET_BATCHED_TJS = 0.6;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function readWav(buffer) {
  let offset = 12;
  let channels = 1;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    if (id === 'fmt ') channels = buffer.readUInt16LE(offset + 10);
    if (id === 'data') {
      const frames = Math.floor(size / 2 / channels);
      const samples = new Float32Array(frames);
      for (let frame = 0; frame < frames; frame++) samples[frame] = buffer.readInt16LE(offset + 8 + frame * channels * 2) / 32768;
      return samples;
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error('no data chunk in the WAV file');
}

// ───────────────────────────── children ─────────────────────────────

async function loadPieces(file) {
  const buffer = await readFile(file);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const count = view.getUint32(0, true);
  const pieces = [];
  let offset = 4;
  for (let index = 0; index < count; index++) {
    const length = view.getUint32(offset, true);
    offset += 4;
    pieces.push(new Float32Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + length * 4)));
    offset += length * 4;
  }
  return pieces;
}

/** The backend of ours and batched: the engine as the server creates it, with these settings. */
async function whisperBackend({ modelDir, dataDir, threads }, inferenceThread) {
  const { default: engine } = await importBuilt('packages/engine-whisper/dist/index.js');
  return engine.createBackend({
    modelId: SLUG, entry: { repo: `talkies-fixtures/${SLUG}`, executor: 'whisper' },
    options: engine.optionsSchema.parse({ temperatureFallback: false, download: false, inferenceThread, threads }),
    paths: { dataDir, modelDir }, logger: { debug() {}, info() {}, warn() {}, error() {} },
    signal: new AbortController().signal, now: () => performance.now(),
  });
}

function speechRequest(audio) {
  return { audio, sampleRate: SAMPLE_RATE, language: 'en', task: 'transcribe', timestamps: false, signal: new AbortController().signal };
}

/** One pass over the pieces: one by one (ours) or as one transcribeBatch call (batched). */
function passOf(backend, pieces, batched) {
  return batched
    ? async () => (await Promise.all(backend.transcribeBatch(pieces.map(speechRequest)))).map((result) => result.text)
    : async () => {
        const texts = [];
        for (const audio of pieces) texts.push((await backend.transcribe(speechRequest(audio))).text);
        return texts;
      };
}

/**
 * Runs first, in a process of its own, and is not timed: the engine on this thread with
 * its session calls watched. Writes the calls of one sequential pass (what bare replays),
 * and tells how many decoder calls each pass makes and the time one sequential pass spent
 * inside them.
 */
async function childRecord({ modelDir, dataDir, piecesFile, callLog, threads }) {
  const { WhisperSessions } = await importBuilt('packages/engine-whisper/dist/whisper-sessions.js');
  const pieces = await loadPieces(piecesFile);
  const backend = await whisperBackend({ modelDir, dataDir, threads }, 'main');
  await backend.load();
  await passOf(backend, pieces, false)();
  let recording;
  let sessionMs = 0;
  let steps = 0;
  const timed = (original, record) =>
    async function (...args) {
      record?.(args);
      const started = performance.now();
      try {
        return await original.apply(this, args);
      } finally {
        sessionMs += performance.now() - started;
      }
    };
  const { encode, encodeBatch, step } = WhisperSessions.prototype;
  WhisperSessions.prototype.encode = timed(encode, ([features, melBins, frames]) => recording?.push({ kind: 'encode', features: Array.from(features), melBins, frames }));
  WhisperSessions.prototype.encodeBatch = async function (features, melBins, frames) {
    // One window goes through encode() (timed there).
    if (features.length === 1) return encodeBatch.call(this, features, melBins, frames);
    return timed(encodeBatch).call(this, features, melBins, frames);
  };
  WhisperSessions.prototype.step = timed(step, ([tokens, , , cache]) => {
    steps++;
    recording?.push({ kind: 'step', tokens: [...tokens], first: cache === undefined });
  });
  recording = [];
  await passOf(backend, pieces, false)();
  await writeFile(callLog, JSON.stringify(recording));
  recording = undefined;
  const insideSessions = sessionMs;
  const decoderCalls = steps;
  steps = 0;
  await passOf(backend, pieces, true)();
  const batchedDecoderCalls = steps;
  Object.assign(WhisperSessions.prototype, { encode, encodeBatch, step });
  await backend.dispose();
  return { loadMs: 0, insideSessions, decoderCalls, batchedDecoderCalls, async pass() { return { ms: 0 }; } };
}

/** ours and batched, timed as the server runs them: onnxruntime in the model's worker thread (unless --thread main). */
async function childOurs({ modelDir, dataDir, piecesFile, thread, threads, batched = false }) {
  const pieces = await loadPieces(piecesFile);
  const backend = await whisperBackend({ modelDir, dataDir, threads }, thread);
  const loadStarted = performance.now();
  await backend.load();
  const loadMs = performance.now() - loadStarted;
  const pass = passOf(backend, pieces, batched);
  const texts = await pass();
  return {
    loadMs,
    texts,
    maxBatchSize: backend.capabilities.maxBatchSize,
    async pass() {
      const started = performance.now();
      await pass();
      return { ms: performance.now() - started };
    },
  };
}

/** transformers.js with `threads` onnxruntime threads, or onnxruntime's own default when `threads` is undefined (tjs-default). */
async function childTjs({ modelDir, piecesFile, threads }) {
  const { env, pipeline } = await import(pathToFileURL(join(root, 'packages/engine-whisper/node_modules/@huggingface/transformers/dist/transformers.node.mjs')).href);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  const pieces = await loadPieces(piecesFile);
  const loadStarted = performance.now();
  const sessionOptions = threads === undefined ? {} : { session_options: { intraOpNumThreads: threads } };
  const pipe = await pipeline('automatic-speech-recognition', modelDir, { local_files_only: true, dtype: 'fp32', ...sessionOptions });
  const loadMs = performance.now() - loadStarted;
  const pass = async () => {
    const texts = [];
    for (const audio of pieces) texts.push((await pipe(audio, { language: 'en' })).text);
    return texts;
  };
  const texts = await pass();
  return {
    loadMs,
    texts,
    async pass() {
      const started = performance.now();
      await pass();
      return { ms: performance.now() - started };
    },
  };
}

async function childBare({ modelDir, callLog, threads }) {
  const ort = await import(pathToFileURL(join(root, 'packages/engine-whisper/node_modules/onnxruntime-node/dist/index.js')).href);
  const log = JSON.parse(await readFile(callLog, 'utf8'));
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3, intraOpNumThreads: threads };
  const loadStarted = performance.now();
  const encoder = await ort.InferenceSession.create(join(modelDir, 'onnx/encoder_model.onnx'), options);
  const decoder = await ort.InferenceSession.create(join(modelDir, 'onnx/decoder_model_merged.onnx'), options);
  const loadMs = performance.now() - loadStarted;
  const pastNames = decoder.inputNames.filter((name) => name.startsWith('past_key_values.'));
  const [, heads, , headSize] = decoder.inputMetadata.find((item) => item.name === pastNames[0]).shape;
  const features = log.filter((call) => call.kind === 'encode').map((call) => new ort.Tensor('float32', Float32Array.from(call.features), [1, call.melBins, call.frames]));
  const replay = async () => {
    let timed = 0;
    let hidden;
    let cache;
    let encodeIndex = 0;
    for (const call of log) {
      if (call.kind === 'encode') {
        const started = performance.now();
        const output = await encoder.run({ input_features: features[encodeIndex++] });
        timed += performance.now() - started;
        hidden = output.last_hidden_state;
        continue;
      }
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(call.tokens, BigInt), [1, call.tokens.length]),
        encoder_hidden_states: hidden,
        use_cache_branch: new ort.Tensor('bool', Uint8Array.of(call.first ? 0 : 1), [1]),
      };
      for (const name of pastNames) feeds[name] = call.first ? new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headSize]) : cache[name];
      const started = performance.now();
      const output = await decoder.run(feeds);
      timed += performance.now() - started;
      const next = {};
      for (const name of pastNames) {
        next[name] = name.includes('.encoder.') && !call.first ? cache[name] : output[name.replace('past_key_values', 'present')];
      }
      cache = next;
    }
    return timed;
  };
  await replay();
  return {
    loadMs,
    decoderSteps: log.filter((call) => call.kind === 'step').length,
    encoderRuns: log.filter((call) => call.kind === 'encode').length,
    async pass() {
      return { ms: await replay() };
    },
  };
}

if (process.env.TALKIES_BENCH_WHISPER_CHILD) {
  // A child loads its implementation, warms up, then runs one timed pass per `pass` message.
  const { mode, ...options } = JSON.parse(process.env.TALKIES_BENCH_WHISPER_CHILD);
  const start = { record: childRecord, ours: childOurs, batched: (options) => childOurs({ ...options, batched: true }), tjs: childTjs, 'tjs-default': (options) => childTjs({ ...options, threads: undefined }), bare: childBare }[mode];
  // The child ends with its parent, whatever happens to it.
  process.on('disconnect', () => process.exit(0));
  const { pass, ...ready } = await start(options);
  process.on('message', async (message) => {
    if (message === 'pass') process.send({ pass: await pass() });
    else {
      process.send({ done: { peakRssMb: process.resourceUsage().maxRSS / 1024 } });
      process.disconnect();
    }
  });
  process.send({ ready });
}

// ───────────────────────────── parent ─────────────────────────────

/** A running child: `ready` once loaded and warmed up, then `pass()` and `finish()`. */
async function startChild(mode, options) {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, TALKIES_BENCH_WHISPER_CHILD: JSON.stringify({ mode, ...options }) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let waiting;
  let exited;
  child.on('message', (message) => waiting?.resolve(message));
  child.on('exit', (code) => {
    exited = code;
    waiting?.reject(new Error(`the ${mode} process exited with code ${code}`));
  });
  const next = () =>
    new Promise((resolve, reject) => {
      if (exited !== undefined) reject(new Error(`the ${mode} process exited with code ${exited}`));
      waiting = { resolve, reject };
    });
  const { ready } = await next();
  return {
    ready,
    async pass() {
      const reply = next();
      child.send('pass');
      return (await reply).pass;
    },
    async finish() {
      const reply = next();
      child.send('finish');
      return (await reply).done;
    },
  };
}

/** The parent: generates the model and the pieces, starts the children, reports. */
async function parent() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '6' },
      'model-dir': { type: 'string' },
      regenerate: { type: 'boolean', default: false },
      json: { type: 'string' },
      modes: { type: 'string', default: 'ours,batched,tjs,tjs-default,bare' },
      thread: { type: 'string', default: 'worker' },
      threads: { type: 'string' },
    },
  });
  const modes = values.modes.split(',').map((mode) => mode.trim());
  if (!modes.includes('ours') || modes.some((mode) => !['ours', 'batched', 'tjs', 'tjs-default', 'bare'].includes(mode))) {
    throw new Error("--modes lists ours, batched, tjs, tjs-default and/or bare (ours is always needed: bare replays its calls)");
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number above 0');

  const jfkPath = join(root, '..', 'shared', 'audio', 'jfk.wav');
  if (!existsSync(jfkPath)) throw new Error(`${jfkPath} is missing: the benchmark needs ../shared/audio/jfk.wav`);
  const dataDir = values['model-dir'] ?? join(os.tmpdir(), 'talkies-bench-whisper');
  const modelDir = join(dataDir, 'models', SLUG);
  if (values.regenerate || !existsSync(join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
    const { writeFixtures } = await importBuilt('packages/engine-whisper/dist/testing/index.js');
    const started = performance.now();
    await writeFixtures(dataDir, { only: new Set([SLUG]) });
    process.stderr.write(`generated ${SLUG} in ${Math.round(performance.now() - started)} ms into ${modelDir}\n`);
  }

  // 60 s: jfk + 1 s of silence, five times; cut as the server cuts long audio.
  const jfk = readWav(await readFile(jfkPath));
  const unit = jfk.length + SAMPLE_RATE;
  const audio = new Float32Array(unit * 5);
  for (let copy = 0; copy < 5; copy++) audio.set(jfk, copy * unit);
  const seconds = audio.length / SAMPLE_RATE;
  const core = await importBuilt('packages/core/dist/index.js');
  // One onnxruntime thread count for ours, batched, bare and tjs: the engine's default unless --threads.
  const threads = values.threads ? Number(values.threads) : core.defaultInferenceThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new Error('--threads must be a whole number above 0');
  const pieces = [];
  let chunking = 'fixed 30 s windows (core has no VadChunker)';
  const cutStarted = performance.now();
  if (core.VadChunker && core.createSileroDetector) {
    const chunker = new core.VadChunker(() => core.createSileroDetector());
    for await (const chunk of chunker.chunks(audio)) pieces.push(chunk.audio.slice());
    chunking = `core's VadChunker (Silero VAD, default options): ${pieces.map((piece) => (piece.length / SAMPLE_RATE).toFixed(1)).join(' + ')} s`;
  } else {
    for (let start = 0; start < audio.length; start += 30 * SAMPLE_RATE) pieces.push(audio.slice(start, start + 30 * SAMPLE_RATE));
  }
  const cutMs = performance.now() - cutStarted;
  await mkdir(join(dataDir, 'bench'), { recursive: true });
  const piecesFile = join(dataDir, 'bench', 'pieces.bin');
  const header = Buffer.alloc(4);
  header.writeUInt32LE(pieces.length);
  await writeFile(piecesFile, Buffer.concat([header, ...pieces.flatMap((piece) => {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(piece.length);
    return [length, Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)];
  })]));
  const callLog = join(dataDir, 'bench', 'calls.json');

  // All implementations load first (one process each), then take turns: every round runs
  // one pass of each, in a rotating order, so that load on the machine falls on all of them.
  const record = await startChild('record', { modelDir, dataDir, piecesFile, callLog, threads });
  await record.finish();
  process.stderr.write(`record: ${record.ready.decoderCalls} decoder calls sequential, ${record.ready.batchedDecoderCalls} batched\n`);
  const children = {};
  for (const mode of modes) {
    const started = performance.now();
    children[mode] = await startChild(mode, { modelDir, dataDir, piecesFile, callLog, thread: values.thread, threads });
    process.stderr.write(`${mode}: loaded and warmed up in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  const rounds = runs;
  const passes = Object.fromEntries(modes.map((mode) => [mode, []]));
  for (let round = 0; round < rounds; round++) {
    const order = modes.map((_, index) => modes[(index + round) % modes.length]);
    for (const mode of order) passes[mode].push(await children[mode].pass());
    process.stderr.write(`round ${round + 1}/${rounds}: ${modes.map((mode) => `${mode} ${(passes[mode].at(-1).ms / 1000).toFixed(2)} s`).join(', ')}\n`);
  }
  const finished = {};
  for (const mode of modes) finished[mode] = await children[mode].finish();

  const times = Object.fromEntries(modes.map((mode) => [mode, passes[mode].map((pass) => pass.ms)]));
  const medians = Object.fromEntries(modes.map((mode) => [mode, median(times[mode])]));
  const minimums = Object.fromEntries(modes.map((mode) => [mode, Math.min(...times[mode])]));
  const paired = (a, b) => (times[a] && times[b] ? median(times[a].map((value, index) => value / times[b][index])) : NaN);
  const peakRss = Object.fromEntries(modes.map((mode) => [mode, finished[mode].peakRssMb]));
  const loads = Object.fromEntries(modes.map((mode) => [mode, children[mode].ready.loadMs]));
  const sameText = children.tjs ? JSON.stringify(children.ours.ready.texts) === JSON.stringify(children.tjs.ready.texts) : undefined;
  const oursInSessions = record.ready.insideSessions;
  const batchedSameText = children.batched ? JSON.stringify(children.ours.ready.texts) === JSON.stringify(children.batched.ready.texts) : undefined;
  const summary = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model?.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`,
    node: process.version,
    malloc: mallocSettings(),
    threads,
    audioSeconds: seconds,
    chunking,
    chunkingMs: cutMs,
    encoderRuns: children.bare?.ready.encoderRuns,
    decoderSteps: children.bare?.ready.decoderSteps,
    rounds,
    medianMs: medians,
    minimumMs: minimums,
    rtf: Object.fromEntries(Object.entries(medians).map(([mode, value]) => [mode, value / 1000 / seconds])),
    ratios: {
      oursOverBare: paired('ours', 'bare'), oursOverTjs: paired('ours', 'tjs'), tjsOverBare: paired('tjs', 'bare'),
      batchedOverTjs: paired('batched', 'tjs'), batchedOverTjsDefault: paired('batched', 'tjs-default'), oursOverTjsDefault: paired('ours', 'tjs-default'), batchedOverBare: paired('batched', 'bare'), batchedOverOurs: paired('batched', 'ours'),
    },
    batchedDecoderCalls: record.ready.batchedDecoderCalls,
    maxBatchSize: children.batched?.ready.maxBatchSize,
    batchedSameText,
    oursSessionMs: oursInSessions,
    peakRssMb: peakRss,
    loadMs: loads,
    sameText,
    allMs: times,
  };

  const line = (label, value) => `${label.padEnd(26)}${value}\n`;
  let report = 'talkies Whisper benchmark: whisper-base-sized generated model, 60 s of speech\n';
  report += line('date', summary.date) + line('machine', summary.machine) + line('node', summary.node) + line('malloc', summary.malloc);
  report += line('onnxruntime threads', `${threads} for ours, batched, bare and tjs${modes.includes('tjs-default') ? "; tjs-default: transformers.js with onnxruntime's own default" : ''}`);
  report += line('pieces', `${chunking} (cut in ${cutMs.toFixed(0)} ms)`);
  report += line('work per 60 s', `${summary.encoderRuns} encoder runs, ${summary.decoderSteps} decoder runs`);
  if (children.batched) report += line('batched', `transcribeBatch(pieces), maxBatchSize ${summary.maxBatchSize}: ${summary.batchedDecoderCalls} decoder calls`);
  report += line('timed passes per mode', `${rounds} interleaved rounds`);
  report += '\n              median   fastest     RTF   peak RSS    load\n';
  for (const mode of modes) {
    report += `${mode.padEnd(10)}${(medians[mode] / 1000).toFixed(2).padStart(8)} s ${(minimums[mode] / 1000).toFixed(2).padStart(7)} s ${summary.rtf[mode].toFixed(3).padStart(7)} ${peakRss[mode].toFixed(0).padStart(7)} MB ${(loads[mode] / 1000).toFixed(2).padStart(5)} s\n`;
  }
  report += '(ratios below are medians of the per-round ratios)\n';
  report += `\nours / bare  ${summary.ratios.oursOverBare.toFixed(3)}  (target ≤ ${TARGET_BARE}: ${summary.ratios.oursOverBare <= TARGET_BARE ? 'met' : 'NOT met'})\n`;
  report += `ours / tjs   ${summary.ratios.oursOverTjs.toFixed(3)}  (target < 1, aim ≤ ${TARGET_TJS}: ${summary.ratios.oursOverTjs <= TARGET_TJS ? 'met' : summary.ratios.oursOverTjs < 1 ? 'faster, aim not met' : 'NOT met'})\n`;
  report += `tjs / bare   ${summary.ratios.tjsOverBare.toFixed(3)}\n`;
  if (children['tjs-default']) report += `ours / tjs-default   ${summary.ratios.oursOverTjsDefault.toFixed(3)}  (transformers.js as it comes, onnxruntime's thread default)\n`;
  if (children.batched) {
    const ratio = summary.ratios.batchedOverTjs;
    report += `batched / tjs   ${ratio.toFixed(3)}  (target ≤ ${TARGET_BATCHED_TJS}: ${ratio <= TARGET_BATCHED_TJS ? 'met' : 'NOT met'})\n`;
    if (children['tjs-default']) report += `batched / tjs-default   ${summary.ratios.batchedOverTjsDefault.toFixed(3)}\n`;
    report += `batched / bare  ${summary.ratios.batchedOverBare.toFixed(3)}  (bare: the sequential calls of ours, replayed)\n`;
    report += `batched / ours  ${summary.ratios.batchedOverOurs.toFixed(3)}\n`;
  }
  report += `ours inside session.run: ${(oursInSessions / 1000).toFixed(2)} s in one watched pass on the main thread; timed passes ${(medians.ours / 1000).toFixed(2)} s (the rest: log-mel, logit filters, tokenizer, bookkeeping${values.thread === 'worker' ? ', worker hand-over' : ''})\n`;
  if (sameText !== undefined) report += `same text as transformers.js: ${sameText ? 'yes' : 'NO'}\n`;
  if (batchedSameText !== undefined) report += `batched text the same as sequential: ${batchedSameText ? 'yes' : 'NO'}\n`;
  report += `all passes (ms): ${modes.map((mode) => `${mode} ${times[mode].map(Math.round).join(' ')}`).join(' | ')}\n`;
  process.stdout.write(report);
  if (values.json) await writeFile(values.json, JSON.stringify(summary, null, 2) + '\n');
  if (sameText === false || batchedSameText === false) process.exitCode = 1;
}

// A child process must never run the parent: that would fork children of its own.
if (!process.env.TALKIES_BENCH_WHISPER_CHILD) await parent();
