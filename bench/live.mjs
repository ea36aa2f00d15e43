#!/usr/bin/env node
/**
 * Live transcription latency over the realtime WebSocket, beside the engine's bare time.
 *
 * The server runs in a child process (startServer, loopback) with a generated Whisper model
 * (`whisper-test-tiny` by default, `--model whisper-test-base` for whisper-base's real
 * compute; random weights: the text is junk, the compute is the model's). This process is
 * the client: it connects to /v1/realtime?intent=transcription and sends espeak-ng speech
 * (phrases separated by 1.5 s of silence) as pcm16 at 24 kHz in 20 ms appends, paced at
 * real time. Two passes per round:
 *
 *   vad     server VAD (Silero, silence_duration_ms 500): per utterance, the time from the
 *           end of its speech (its last sample sent) to its `completed` event, and from its
 *           first speech sample sent to its first `delta` (a re-transcription partial);
 *   manual  turn_detection null: each phrase is committed as soon as its last sample is
 *           sent; the time from that commit to `completed` is the pipeline's own latency.
 *
 *   bare    in this process after the passes: WhisperBackend.transcribe() on each phrase
 *           (resampled to 16 kHz by core's resampler, as the server does), the engine alone.
 *
 * Reported: medians over rounds and utterances, the manual latency over the bare time,
 * and the load average (other work on the machine inflates every number alike).
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/live.mjs [--runs 3] [--model whisper-test-tiny|whisper-test-base] [--model-dir DIR] [--regenerate]
 */
import { execFile, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { importBuilt, root } from './lib/built.mjs';

const SERVER_FLAG = 'TALKIES_BENCH_LIVE_SERVER';
const RATE = 24000;
const PIECE = RATE / 50;
const GAP_SECONDS = 1.5;
const PHRASES = ['the weather is fine today and the trains are on time', 'please bring an umbrella to the station', 'we will meet again at seven'];
const run = promisify(execFile);

function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The server child: starts talkies on the model and reports its URL. */
async function serve() {
  const { modelsFile, dataDir, slug } = JSON.parse(process.env[SERVER_FLAG]);
  const { startServer } = await importBuilt('packages/server/dist/index.js');
  const server = await startServer({
    environment: {},
    config: { host: '127.0.0.1', port: 0, modelsFile, dataDir, logLevel: 'warn', enabledModels: [], preload: [slug], sweeperIntervalSeconds: 0 },
    pluginBaseDirectories: [root],
  });
  process.send({ url: server.url });
  process.on('message', async () => {
    await server.close();
    process.exit(0);
  });
}

/** One phrase as 24 kHz float samples, by espeak-ng and ffmpeg. */
async function speak(text, directory, index) {
  const wav = join(directory, `phrase-${index}.wav`);
  const raw = join(directory, `phrase-${index}.f32`);
  await run('espeak-ng', ['-w', wav, text]);
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-i', wav, '-ac', '1', '-ar', String(RATE), '-f', 'f32le', raw]);
  const bytes = await readFile(raw);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function pcm16(samples) {
  const bytes = Buffer.alloc(samples.length * 2);
  for (let index = 0; index < samples.length; index++) bytes.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[index] * 32768))), index * 2);
  return bytes;
}

/** One pass over the recording on a fresh connection; returns per-utterance timings in ms. */
async function pass(url, WebSocket, recording, mode) {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/v1/realtime?intent=transcription`);
  const events = [];
  socket.on('message', (data) => events.push({ at: performance.now(), event: JSON.parse(String(data)) }));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const turnDetection = mode === 'vad' ? { type: 'server_vad', silence_duration_ms: 500 } : null;
  socket.send(JSON.stringify({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: turnDetection } } } }));
  const marks = [];
  const started = performance.now();
  let piece = 0;
  for (const [index, segment] of recording.entries()) {
    const mark = { phrase: index };
    for (let offset = 0; offset < segment.samples.length; offset += PIECE, piece++) {
      // Real time: piece n leaves at n × 20 ms.
      const due = started + piece * 20;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const end = Math.min(segment.samples.length, offset + PIECE);
      socket.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: pcm16(segment.samples.subarray(offset, end)).toString('base64') }));
      if (segment.speech && offset === 0) mark.speechStart = performance.now();
      if (segment.speech && end === segment.samples.length) mark.speechEnd = performance.now();
    }
    if (segment.speech) {
      if (mode === 'manual') socket.send(JSON.stringify({ type: 'input_audio_buffer.commit' }));
      marks.push(mark);
    }
  }
  const completedCount = () => events.filter(({ event }) => event.type === 'conversation.item.input_audio_transcription.completed').length;
  const deadline = performance.now() + 60_000;
  while (completedCount() < marks.length && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.close();
  const errors = events.filter(({ event }) => event.type === 'error');
  if (errors.length > 0) throw new Error(`${mode}: ${errors[0].event.error.message}`);
  // Items in order of their first event: utterance k is phrase k.
  const items = [];
  for (const { event } of events) if (event.item_id && !items.includes(event.item_id)) items.push(event.item_id);
  if (items.length !== marks.length) throw new Error(`${mode}: ${items.length} utterances for ${marks.length} phrases (VAD split or merged a phrase)`);
  return marks.map((mark, index) => {
    const mine = events.filter(({ event }) => event.item_id === items[index]);
    const completed = mine.find(({ event }) => event.type === 'conversation.item.input_audio_transcription.completed');
    const firstDelta = mine.find(({ event }) => event.type === 'conversation.item.input_audio_transcription.delta');
    return {
      final: completed.at - mark.speechEnd,
      firstDelta: firstDelta ? firstDelta.at - mark.speechStart : NaN,
      deltas: mine.filter(({ event }) => event.type === 'conversation.item.input_audio_transcription.delta').length,
    };
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      model: { type: 'string', default: 'whisper-test-tiny' },
      'model-dir': { type: 'string' },
      regenerate: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number above 0');
  const slug = values.model;
  const modelsRoot = values['model-dir'] ?? join(os.tmpdir(), 'talkies-bench-whisper');
  const modelDir = join(modelsRoot, 'models', slug);
  if (values.regenerate || !existsSync(join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
    const { writeFixtures } = await importBuilt('packages/engine-whisper/dist/testing/index.js');
    const generated = performance.now();
    await writeFixtures(modelsRoot, { only: new Set([slug]) });
    process.stderr.write(`generated ${slug} in ${Math.round(performance.now() - generated)} ms into ${modelDir}\n`);
  }
  const require = createRequire(join(root, 'packages', 'server', 'package.json'));
  const { WebSocket } = require('ws');
  const core = await importBuilt('packages/core/dist/index.js');

  const work = await mkdtemp(join(os.tmpdir(), 'talkies-bench-live-'));
  let child;
  try {
    const silence = new Float32Array(Math.round(GAP_SECONDS * RATE));
    const recording = [{ samples: silence, speech: false }];
    const phrases = [];
    for (const [index, text] of PHRASES.entries()) {
      const samples = await speak(text, work, index);
      phrases.push(samples);
      recording.push({ samples, speech: true }, { samples: silence, speech: false });
    }
    const dataDir = join(work, 'data');
    await mkdir(join(dataDir, 'models'), { recursive: true });
    await symlink(modelDir, join(dataDir, 'models', slug));
    const modelsFile = join(dataDir, 'models.json');
    const entry = { repo: `talkies-fixtures/${slug}`, executor: 'whisper', modality: 'asr', default_source_lang: 'en', engineOptions: { temperatureFallback: false, download: false } };
    await writeFile(modelsFile, JSON.stringify({ models: { [slug]: entry } }));
    child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [SERVER_FLAG]: JSON.stringify({ modelsFile, dataDir, slug }) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const { url } = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
    });

    // Warm-up: one manual pass (first-call costs, Silero load on the first VAD pass is in round 1's vad).
    await pass(url, WebSocket, recording, 'manual');
    await pass(url, WebSocket, recording, 'vad');
    const results = { vad: [], manual: [] };
    for (let round = 0; round < runs; round++) {
      for (const mode of round % 2 === 0 ? ['vad', 'manual'] : ['manual', 'vad']) results[mode].push(...(await pass(url, WebSocket, recording, mode)));
    }
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
    child = undefined;

    // The engine alone on the same utterances, in this process.
    const { default: engine } = await importBuilt('packages/engine-whisper/dist/index.js');
    const { whisperOptionsSchema } = await importBuilt('packages/engine-whisper/dist/engine-options.js');
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const backend = engine.createBackend({
      modelId: slug, entry, options: whisperOptionsSchema.parse(entry.engineOptions), fields: {},
      paths: { dataDir, modelDir: join(dataDir, 'models', slug) }, logger: silent, signal: new AbortController().signal, now: () => performance.now(),
    });
    await backend.load();
    const utterances = phrases.map((samples) => core.resample(samples, RATE, 16000));
    const request = (audio) => ({ audio, sampleRate: 16000, language: 'en', task: 'transcribe', timestamps: false, signal: new AbortController().signal });
    for (const audio of utterances) await backend.transcribe(request(audio));
    const bare = [];
    for (let round = 0; round < runs; round++) {
      for (const audio of utterances) {
        const begun = performance.now();
        await backend.transcribe(request(audio));
        bare.push(performance.now() - begun);
      }
    }
    await backend.dispose();

    const speech = phrases.map((samples) => (samples.length / RATE).toFixed(2)).join(', ');
    const finalVad = median(results.vad.map((result) => result.final));
    const finalManual = median(results.manual.map((result) => result.final));
    const firstDelta = median(results.vad.map((result) => result.firstDelta).filter(Number.isFinite));
    const bareMs = median(bare);
    const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
    console.log(`talkies live transcription over /v1/realtime: ${slug}, ${PHRASES.length} phrases (${speech} s) at 24 kHz, 20 ms appends at real time, ${runs} rounds`);
    console.log(`load average: ${load} on ${os.cpus().length} CPUs`);
    console.log('');
    console.log('| measure | median ms |');
    console.log('|---|---|');
    console.log(`| end of speech → completed, server VAD (includes the 500 ms of silence that ends a turn) | ${finalVad.toFixed(0)} |`);
    console.log(`| commit → completed, manual turns | ${finalManual.toFixed(0)} |`);
    console.log(`| engine alone on the same utterance (bare transcribe) | ${bareMs.toFixed(0)} |`);
    console.log(`| commit → completed ÷ bare | ${(finalManual / bareMs).toFixed(2)} × |`);
    console.log(`| first speech sent → first delta, server VAD (re-transcription partials, 1 per s of speech) | ${firstDelta.toFixed(0)} |`);
    console.log(`| deltas per utterance (median) | ${median(results.vad.map((result) => result.deltas))} |`);
  } finally {
    if (child) {
      child.send('stop');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await rm(work, { recursive: true, force: true });
  }
}

if (process.env[SERVER_FLAG]) await serve();
else await main();
