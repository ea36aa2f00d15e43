#!/usr/bin/env node
/**
 * What does probing and decoding a plain 16 kHz WAV cost, read in JavaScript (the fast
 * path of @talkies/audio) against ffprobe + ffmpeg (TALKIES_WAV_FAST_PATH=off)?
 *
 * One 30 s 16 kHz mono 16-bit WAV (a tone with noise, written by this script into a temp
 * folder) is probed and decoded the way the server does for a transcription:
 * `probeAudio(path, { limits })`, then `openAudioStream(path, { probe })` read to the end.
 * The two paths alternate request by request, so background load lands on both; the
 * samples of both are compared once (they must be bit-identical).
 *
 * Reported per request: median and p90 wall time, and CPU time: this process's own
 * (process.cpuUsage) plus that of the programs it started. Those run under the process
 * launcher (a child of this process), and the CPU of exited programs is added to the
 * launcher's cutime/cstime, read from /proc/<launcher>/stat. Ratios are ffmpeg / fast.
 *
 * Usage, from the repository root:
 *
 *   pnpm exec tsc -b && node bench/wav-decode.mjs [--requests 30] [--seconds 30]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openAudioStream, probeAudio } from '@talkies/audio';
import { seededRandom } from '@talkies/core';
import { pcm16WavFile } from '@talkies/testkit';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
  },
});
const requests = Number(values.requests);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function writeWav(path) {
  const frames = 16000 * seconds;
  const data = Buffer.alloc(frames * 2);
  const noise = seededRandom(12345);
  for (let frame = 0; frame < frames; frame++) {
    const value = 0.3 * Math.sin((2 * Math.PI * 220 * frame) / 16000) + 0.05 * (noise() - 0.5);
    data.writeInt16LE(Math.round(value * 32767), frame * 2);
  }
  writeFileSync(path, pcm16WavFile(data));
}

/** CPU seconds of this process's children and their reaped children (the launcher and its programs). */
function childrenCpuSeconds() {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) !== process.pid) continue; // ppid
    // utime, stime, cutime, cstime (fields 14-17 of the whole line)
    total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS;
  }
  return total;
}

async function request(path, collect) {
  const probe = await probeAudio(path, { limits: { maxSeconds: 4 * 3600 } });
  const audio = await openAudioStream(path, { probe, maxSeconds: 4 * 3600 });
  const blocks = [];
  let samples = 0;
  try {
    for await (const block of audio.blocks) {
      samples += block.length;
      if (collect) blocks.push(Buffer.from(block.buffer, block.byteOffset, block.byteLength));
    }
  } finally {
    await audio.close();
  }
  return collect ? Buffer.concat(blocks) : samples;
}

function setPath(path) {
  if (path === 'ffmpeg') process.env.TALKIES_WAV_FAST_PATH = 'off';
  else delete process.env.TALKIES_WAV_FAST_PATH;
}

async function measure(path, file) {
  setPath(path);
  const cpuBefore = process.cpuUsage();
  const childrenBefore = childrenCpuSeconds();
  const started = performance.now();
  await request(file, false);
  const wall = performance.now() - started;
  // A program's CPU reaches the launcher's cutime once the launcher has reaped it.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const own = process.cpuUsage(cpuBefore);
  const children = childrenCpuSeconds() - childrenBefore;
  return { wall, own: (own.user + own.system) / 1000, children: children * 1000 };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const p90 = (values) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.9))];
const mean = (values) => values.reduce((total, value) => total + value, 0) / values.length;

const directory = mkdtempSync(join(tmpdir(), 'talkies-wav-bench-'));
try {
  const file = join(directory, 'speech.wav');
  writeWav(file);
  setPath('fast');
  const fast = await request(file, true);
  setPath('ffmpeg');
  const ffmpeg = await request(file, true);
  if (!fast.equals(ffmpeg)) throw new Error('the two paths decoded different samples');
  console.log(`${seconds} s 16 kHz mono WAV, ${fast.length / 4} samples, bit-identical on both paths; load average ${execFileSync('uptime', { encoding: 'utf8' }).trim().split('load average: ')[1]}`);

  for (let index = 0; index < warmup; index++) {
    await measure('fast', file);
    await measure('ffmpeg', file);
  }
  const results = { fast: [], ffmpeg: [] };
  for (let index = 0; index < requests; index++) {
    const order = index % 2 === 0 ? ['fast', 'ffmpeg'] : ['ffmpeg', 'fast'];
    for (const path of order) results[path].push(await measure(path, file));
  }
  const summary = {};
  for (const path of ['fast', 'ffmpeg']) {
    const rows = results[path];
    summary[path] = {
      wall: median(rows.map((row) => row.wall)),
      wallP90: p90(rows.map((row) => row.wall)),
      own: mean(rows.map((row) => row.own)),
      children: mean(rows.map((row) => row.children)),
    };
    const { wall, wallP90, own, children } = summary[path];
    console.log(
      `${path.padEnd(6)} wall median ${wall.toFixed(1)} ms (p90 ${wallP90.toFixed(1)}), CPU ${(own + children).toFixed(1)} ms per request (node ${own.toFixed(1)} + programs ${children.toFixed(1)})`,
    );
  }
  const cpu = (path) => summary[path].own + summary[path].children;
  console.log(`ratio ffmpeg / fast: wall ${(summary.ffmpeg.wall / summary.fast.wall).toFixed(1)}x, CPU ${(cpu('ffmpeg') / cpu('fast')).toFixed(1)}x (${requests} requests each, alternating)`);
  console.log(`load average after: ${execFileSync('uptime', { encoding: 'utf8' }).trim().split('load average: ')[1]}`);
} finally {
  rmSync(directory, { recursive: true, force: true });
}
