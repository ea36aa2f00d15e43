import { readFileSync, writeFileSync, createReadStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { joinSamples, SpeechError } from '@talkies/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childProcessNames, fixtureDirectory, rms, type FixtureDirectory } from './__fixtures__/generate-audio.js';
import { decodeAudio, decodeAudioStream, decodeChannels } from './decode-audio.js';
import { probeAudio } from './probe-audio.js';

let fixtures: FixtureDirectory;
const files: Record<string, string> = {};

beforeAll(() => {
  fixtures = fixtureDirectory();
  files.wav = fixtures.tone('tone.wav');
  files.mp3 = fixtures.tone('tone.mp3', { extra: ['-c:a', 'libmp3lame', '-b:a', '64k'] });
  files.flac = fixtures.tone('tone.flac');
  files.ogg = fixtures.tone('tone.ogg', { sampleRate: 48000, extra: ['-c:a', 'libopus'] });
  files.stereo = fixtures.make('left-only.wav', [
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=1',
    '-f', 'lavfi', '-i', 'anullsrc=sample_rate=44100:channel_layout=mono',
    '-filter_complex', '[0:a][1:a]amerge=inputs=2[out]', '-map', '[out]', '-t', '1',
  ]);
  files.long = fixtures.tone('long.wav', { seconds: 12, sampleRate: 16000 });
  files.video = fixtures.make('no-audio.mkv', ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=32x32:rate=5', '-c:v', 'mjpeg']);
  files.empty = join(fixtures.path, 'empty.wav');
  writeFileSync(files.empty, '');
});

afterAll(() => fixtures.remove());

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (SpeechError.is(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a SpeechError');
}

function neverEndingStream(): PassThrough {
  const stream = new PassThrough();
  stream.write(readFileSync(files.wav).subarray(0, 4096));
  return stream;
}

describe('decodeAudio', () => {
  it.each(['wav', 'mp3', 'flac', 'ogg'])('decodes %s to 16 kHz mono float32', async (kind) => {
    const decoded = await decodeAudio(files[kind]);
    expect(decoded.sampleRate).toBe(16000);
    expect(decoded.channels).toBe(1);
    expect(decoded.samples).toBeInstanceOf(Float32Array);
    // mp3 and opus add encoder padding at the edges.
    expect(decoded.duration).toBeGreaterThan(1.95);
    expect(decoded.duration).toBeLessThan(2.1);
    expect(decoded.duration).toBe(decoded.samples.length / 16000);
    expect(rms(decoded.samples)).toBeGreaterThan(0.05);
  });

  it('gives the same samples from a path, bytes and a stream', async () => {
    const fromPath = await decodeAudio(files.wav);
    const fromBytes = await decodeAudio(readFileSync(files.wav));
    const fromStream = await decodeAudio(createReadStream(files.wav));
    expect(fromPath.samples.length).toBe(32000);
    expect(fromBytes.samples).toEqual(fromPath.samples);
    expect(fromStream.samples).toEqual(fromPath.samples);
  });

  it('honours another output sample rate', async () => {
    const decoded = await decodeAudio(files.wav, { sampleRate: 8000 });
    expect(decoded.sampleRate).toBe(8000);
    expect(decoded.samples.length).toBe(16000);
  });

  it('downmixes stereo and reports the source channel count', async () => {
    const decoded = await decodeAudio(files.stereo);
    expect(decoded.channels).toBe(2);
    expect(decoded.samples.length).toBe(16000);
    // A tone on the left only, averaged with silence: half its amplitude.
    const left = await decodeChannels(files.stereo);
    expect(rms(decoded.samples)).toBeCloseTo(rms(left.channels[0]) / 2, 3);
  });

  it('rejects empty input as INVALID_REQUEST', async () => {
    for (const input of [new Uint8Array(0), files.empty, Readable.from([])]) {
      expect(await codeOf(decodeAudio(input))).toEqual({ code: 'INVALID_REQUEST', message: 'upload is empty; send an audio file' });
    }
  });

  it('rejects garbage as AUDIO_DECODE_FAILED, keeping ffmpeg’s reason out of the message', async () => {
    const garbage = Buffer.from('this is not audio at all, just some text '.repeat(50));
    const fromBytes = await codeOf(decodeAudio(garbage));
    expect(fromBytes.code).toBe('AUDIO_DECODE_FAILED');
    expect(fromBytes.message).toMatch(/^audio could not be decoded; /);
    const fromStream = await codeOf(decodeAudio(Readable.from([garbage])));
    expect(fromStream.message).toMatch(/^audio could not be decoded; /);
    const path = join(fixtures.path, 'garbage.mp3');
    writeFileSync(path, garbage);
    const fromPath = await codeOf(decodeAudio(path));
    expect(fromPath.code).toBe('AUDIO_DECODE_FAILED');
    expect(fromPath.message).not.toContain(fixtures.path);
  });

  it('rejects a file without an audio stream', async () => {
    expect(await codeOf(decodeAudio(files.video))).toEqual({
      code: 'AUDIO_DECODE_FAILED',
      message: 'ffprobe: no audio stream in upload; send a file with an audio track',
    });
    expect(await codeOf(decodeAudio(createReadStream(files.video)))).toEqual({
      code: 'AUDIO_DECODE_FAILED',
      message: 'ffmpeg: no audio stream in upload; send a file with an audio track',
    });
  });

  it('rejects a missing path as NOT_FOUND', async () => {
    expect((await codeOf(decodeAudio(join(fixtures.path, 'missing.wav')))).code).toBe('NOT_FOUND');
  });

  it('kills ffmpeg when the signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const decoding = decodeAudio(neverEndingStream(), { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(childProcessNames()).toContain('ffmpeg');
    controller.abort();
    expect((await codeOf(decoding)).code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(childProcessNames()).not.toContain('ffmpeg');
  });

  it('does not start ffmpeg for an already aborted signal', async () => {
    expect((await codeOf(decodeAudio(files.wav, { signal: AbortSignal.abort() }))).code).toBe('ABORTED');
  });

  it('reports an input stream that fails', async () => {
    const stream = neverEndingStream();
    setTimeout(() => stream.destroy(new Error('client went away')), 50);
    const failure = await codeOf(decodeAudio(stream));
    expect(failure.code).toBe('AUDIO_DECODE_FAILED');
    expect(failure.message).toContain('client went away');
  });
});

describe('decodeChannels', () => {
  it('splits stereo into per-channel arrays with the left-only tone in channel 0', async () => {
    expect((await probeAudio(files.stereo)).channels).toBe(2);
    const split = await decodeChannels(createReadStream(files.stereo));
    expect(split.sampleRate).toBe(16000);
    expect(split.duration).toBe(1);
    expect(split.channels).toHaveLength(2);
    expect(split.channels[0].length).toBe(16000);
    expect(split.channels[1].length).toBe(16000);
    expect(rms(split.channels[0])).toBeGreaterThan(0.05);
    expect(rms(split.channels[1])).toBeLessThan(0.001);
  });

  it('gives one array for a mono source', async () => {
    const split = await decodeChannels(files.wav);
    expect(split.channels).toHaveLength(1);
    expect(split.duration).toBe(2);
  });
});

describe('decodeAudioStream', () => {
  it('yields chunks that add up to decodeAudio', async () => {
    const whole = await decodeAudio(files.long);
    const chunks: Float32Array[] = [];
    for await (const chunk of decodeAudioStream(createReadStream(files.long))) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    const joined = joinSamples(chunks);
    expect(joined.length).toBe(whole.samples.length);
    expect(joined).toEqual(whole.samples);
  });

  it('kills ffmpeg when the consumer stops early', async () => {
    for await (const chunk of decodeAudioStream(files.long)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect(childProcessNames()).not.toContain('ffmpeg');
  });

  it('fails the iteration on garbage', async () => {
    const iterate = async () => {
      for await (const _chunk of decodeAudioStream(Buffer.from('garbage'.repeat(100)))) {
        // nothing is expected
      }
    };
    expect((await codeOf(iterate())).code).toBe('AUDIO_DECODE_FAILED');
  });
});
