/**
 * Decoding is bounded whatever the header says: absurd headers are refused before ffmpeg
 * decodes, TALKIES_MAX_AUDIO_SECONDS is enforced on the samples as they stream, a header
 * with no samples is "no audio", and stereo diarization streams both channels. Memory is
 * measured (RSS of this process, which runs the server) during and after each request.
 */
import 'reflect-metadata';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { loadConfig } from '../src/config.js';
import { gate, makeTone, SCRIPTED, startTestServer, type TestServer } from './test-server.js';

const run = promisify(execFile);
const MB = 1024 * 1024;
/** Length of the long stereo recording. */
const MINUTES = 6;

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'talkies-bounded-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

/** A RIFF/WAVE header claiming anything, followed by `dataBytes` of zeros. */
function lyingWav(channels: number, sampleRate: number, dataBytes: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([header, Buffer.alloc(dataBytes)]);
}

/** `seconds` of 16 kHz FLAC from an ffmpeg lavfi graph with `channels` channels. */
async function flac(name: string, seconds: number, source: string): Promise<string> {
  const path = join(directory, name);
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', source, '-t', String(seconds), '-ar', '16000', path]);
  return path;
}

/** A FLAC whose STREAMINFO claims one second while it holds `seconds`: the probe believes the header. */
async function flacClaimingOneSecond(name: string, seconds: number, channels: number): Promise<string> {
  const honest = await flac(`honest-${name}`, seconds, `sine=frequency=300:sample_rate=16000,${channels === 2 ? 'aformat=channel_layouts=stereo' : 'anull'}`);
  const bytes = await readFile(honest);
  const packed = bytes.readBigUInt64BE(18);
  bytes.writeBigUInt64BE((packed & ~((1n << 36n) - 1n)) | 16000n, 18);
  const path = join(directory, name);
  await writeFile(path, bytes);
  return path;
}

/**
 * Samples this process's RSS every 10 ms while `work` runs, and the memory held by
 * ArrayBuffers (where decoded audio lives), which GC timing blurs less than RSS.
 */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; before: number; peak: number; after: number; buffersPeak: number }> {
  const before = process.memoryUsage.rss();
  (globalThis as { gc?: () => void }).gc?.();
  const buffersBefore = process.memoryUsage().arrayBuffers;
  let peak = before;
  let buffersPeak = 0;
  // Array buffers are read live: collected first (the suite runs with --expose-gc) at most
  // every 100 ms, so that garbage a busy machine has not yet collected does not count as
  // held. A channel held whole would be live through the whole decode, and is still seen.
  const collect = (globalThis as { gc?: () => void }).gc;
  let collected = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
    if (!collect) buffersPeak = Math.max(buffersPeak, process.memoryUsage().arrayBuffers - buffersBefore);
    else if (performance.now() - collected >= 100) {
      collect();
      collected = performance.now();
      buffersPeak = Math.max(buffersPeak, process.memoryUsage().arrayBuffers - buffersBefore);
    }
  };
  const timer = setInterval(sample, 10);
  try {
    const result = await work();
    sample();
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { result, before, peak, after: process.memoryUsage.rss(), buffersPeak };
  } finally {
    clearInterval(timer);
  }
}

async function transcribe(server: TestServer, model: string, path: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append('model', model);
  form.append('response_format', 'verbose_json');
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  form.append('file', new Blob([await readFile(path)]), path.slice(path.lastIndexOf('/') + 1));
  const started = Date.now();
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  const text = await response.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body, seconds: (Date.now() - started) / 1000 };
}

/** How many ffmpeg processes descend from this one (programs run through the launcher are grandchildren). */
function ffmpegProcesses(): number {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 3)
    .map(([pid, ppid, name]) => ({ pid: Number(pid), ppid: Number(ppid), name }));
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (ours.has(row.ppid) && !ours.has(row.pid)) {
        ours.add(row.pid);
        grew = true;
      }
    }
  }
  return rows.filter((row) => row.pid !== process.pid && ours.has(row.pid) && row.name === 'ffmpeg').length;
}

const models = {
  // Cuts long audio with the VAD chunker: the streaming path.
  chunked: { repo: 'fixtures/a', ...SCRIPTED, engineOptions: { longForm: false } },
  // Takes audio whole (the chunker collects it first).
  whole: { repo: 'fixtures/b', ...SCRIPTED },
};

describe('absurd headers and empty audio', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(models);
  });
  afterAll(() => server?.stop());

  it('a 320 KB stereo WAV claiming 4 Hz is refused with a 400 before decoding, and memory stays put', async () => {
    const path = join(directory, 'four-hertz.wav');
    await writeFile(path, lyingWav(2, 4, 320_000));
    for (const fields of [{}, { diarization: 'true' }] as Record<string, string>[]) {
      const { result, before, peak, after } = await measured(() => transcribe(server, 'whole', path, fields));
      expect(result.status).toBe(400);
      expect(result.body.error.message).toMatch(/header claims 4 samples per second; talkies reads 1000 to 768000 Hz/);
      expect(result.seconds).toBeLessThan(5);
      expect((peak - before) / MB).toBeLessThan(50);
      expect((after - before) / MB).toBeLessThan(30);
    }
  });

  it('64 channels at 1 Hz, and 64 channels at 8 kHz, are refused with a 400', async () => {
    const slow = join(directory, 'sixty-four-slow.wav');
    await writeFile(slow, lyingWav(64, 1, 320_000));
    const refused = await transcribe(server, 'whole', slow);
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toMatch(/claims 1 samples per second/);
    const wide = join(directory, 'sixty-four.wav');
    await writeFile(wide, lyingWav(64, 8000, 64 * 2 * 800));
    const tooWide = await transcribe(server, 'whole', wide);
    expect(tooWide.status).toBe(400);
    expect(tooWide.body.detail).toMatch(/claims 64 channels; talkies reads at most 32/);
  });

  it('a WAV with a header and no samples is a 400 saying there is no audio, with and without diarization', async () => {
    const mono = join(directory, 'header-only.wav');
    await writeFile(mono, lyingWav(1, 16000, 0));
    const stereo = join(directory, 'header-only-stereo.wav');
    await writeFile(stereo, lyingWav(2, 16000, 0));
    for (const [path, fields] of [[mono, {}], [stereo, { diarization: 'true' }]] as const) {
      for (const model of ['whole', 'chunked']) {
        const { status, body } = await transcribe(server, model, path, fields);
        expect(status).toBe(400);
        expect(body.error.message).toMatch(/^no audio: the file has an audio header but no samples/);
      }
    }
  });
});

describe('requests waiting for a model', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(models);
  });
  afterAll(() => server?.stop());

  it('hold no ffmpeg while they wait in the queue: decoding starts inside the lease', async () => {
    const tone = await makeTone(join(directory, 'queued.wav'), 3);
    const held = gate();
    scriptedControl.gates.set('whole', held.promise);
    try {
      const requests = [1, 2, 3].map(() => transcribe(server, 'whole', tone));
      const started = () => scriptedControl.events.filter((event) => event.model === 'whole' && event.event === 'transcribe-start').length;
      for (let attempt = 0; attempt < 500 && started() === 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(started()).toBe(1);
      // The two queued requests have been probed (so a bad file would have been refused by now).
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ffmpegProcesses()).toBe(0);
      scriptedControl.gates.delete('whole');
      held.open();
      expect((await Promise.all(requests)).map((response) => response.status)).toEqual([200, 200, 200]);
    } finally {
      scriptedControl.gates.delete('whole');
      held.open();
    }
  });
});

describe('TALKIES_MAX_AUDIO_SECONDS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(models, { maxAudioSeconds: 60 });
    // Load the VAD before measuring: its model is not what these tests are about.
    expect((await transcribe(server, 'chunked', await flac('warm-up.flac', 40, 'anoisesrc=r=16000:a=0.1'))).status).toBe(200);
  });
  afterAll(() => server?.stop());

  it('refuses a file whose header declares more, before decoding (413 naming the variable)', async () => {
    const path = await flac('two-minutes.flac', 120, 'anullsrc=r=16000:cl=mono');
    const { status, body, seconds } = await transcribe(server, 'whole', path);
    expect(status).toBe(413);
    expect(body.error.message).toMatch(/the file says 120 s, more than the 60 s allowed; send a shorter recording or raise TALKIES_MAX_AUDIO_SECONDS/);
    expect(seconds).toBeLessThan(5);
  });

  it('stops a file that is longer than its header says while it streams, mono and stereo, whole and chunked', async () => {
    const mono = await flacClaimingOneSecond('lying-mono.flac', 180, 1);
    const stereo = await flacClaimingOneSecond('lying-stereo.flac', 180, 2);
    for (const [path, model, fields] of [
      [mono, 'whole', {}],
      [mono, 'chunked', {}],
      [stereo, 'whole', { diarization: 'true' }],
      [stereo, 'chunked', { diarization: 'true' }],
    ] as const) {
      const { result, before, peak } = await measured(() => transcribe(server, model, path, fields));
      console.log(`${model} ${fields.diarization ? 'stereo' : 'mono'} past the limit: peak +${((peak - before) / MB).toFixed(0)} MB, ${result.seconds.toFixed(1)} s`);
      expect(result.status).toBe(413);
      expect(result.body.error.message).toMatch(/more than 60 s were decoded, more than the 60 s allowed; .*TALKIES_MAX_AUDIO_SECONDS/);
      // 180 s would be 11.5 MB as float32; only the first 60 s were ever decoded.
      expect((peak - before) / MB).toBeLessThan(60);
    }
  });

  it('is read from the environment, plain or Go-style, default four hours', () => {
    expect(loadConfig({}).maxAudioSeconds).toBe(4 * 3600);
    expect(loadConfig({ TALKIES_MAX_AUDIO_SECONDS: '90m' }).maxAudioSeconds).toBe(5400);
    expect(loadConfig({ TALKIES_MAX_AUDIO_SECONDS: '600' }).maxAudioSeconds).toBe(600);
    expect(() => loadConfig({ TALKIES_MAX_AUDIO_SECONDS: '0' })).toThrow(/TALKIES_MAX_AUDIO_SECONDS must be more than 0/);
    expect(() => loadConfig({ TALKIES_MAX_AUDIO_SECONDS: 'long' })).toThrow(/TALKIES_MAX_AUDIO_SECONDS='long' is not a duration/);
  });
});

describe('stereo diarization streams both channels', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(models);
  });
  afterAll(() => server?.stop());

  it('six minutes of stereo go through the chunker without holding a channel in memory', async () => {
    // Speech (espeak-ng) with pauses on the left, silence on the right.
    const spoken = join(directory, 'spoken.wav');
    await run('espeak-ng', ['-w', spoken, 'the left speaker talks about the weather and the trains, then stops for a moment']);
    const path = join(directory, 'ten-minutes-stereo.flac');
    await run('ffmpeg', [
      '-loglevel', 'error', '-y', '-stream_loop', '-1', '-i', spoken,
      '-af', 'aresample=16000,apad=pad_dur=2,pan=stereo|c0=c0|c1=0*c0', '-t', String(MINUTES * 60), '-ar', '16000', path,
    ]);
    // Load the VAD once before measuring: its model is not what this test is about.
    const warm = await flac('warm-up-2.flac', 40, 'anoisesrc=r=16000:a=0.1');
    expect((await transcribe(server, 'chunked', warm)).status).toBe(200);
    const { result, before, peak, after, buffersPeak } = await measured(() => transcribe(server, 'chunked', path, { diarization: 'true' }));
    console.log(`diarization of ${MINUTES} min stereo: RSS before ${(before / MB).toFixed(0)} MB, peak +${((peak - before) / MB).toFixed(0)} MB, after +${((after - before) / MB).toFixed(0)} MB, array buffers peak +${(buffersPeak / MB).toFixed(0)} MB, ${result.seconds.toFixed(1)} s`);
    expect(result.status).toBe(200);
    expect(result.body.duration).toBeCloseTo(MINUTES * 60, 0);
    const channels = new Set(result.body.segments.map((segment: { channel: string }) => segment.channel));
    expect(channels).toEqual(new Set(['L']));
    // One channel of six minutes is 23 MB as float32, both 46 MB. Decoding them whole, as
    // the server did before, measured RSS +85 MB at the peak and +84 MB after, array buffers
    // +90 MB; streaming measured +29, +22 and +35 MB (most of it the upload passing through
    // this process, which is also the client).
    expect((peak - before) / MB).toBeLessThan(60);
    expect((after - before) / MB).toBeLessThan(50);
    // Live array buffers (collected before each reading, see measured()): streaming measured
    // +20 to +36 MB; both channels whole would be 46 MB on top of that. Without --expose-gc the
    // readings include garbage (35 to 67 MB measured), so only the old, loose bound applies.
    expect(buffersPeak / MB).toBeLessThan((globalThis as { gc?: () => void }).gc ? 50 : 70);
  }, 120_000);
});
