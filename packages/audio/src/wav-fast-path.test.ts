import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { joinSamples as joined, SpeechError } from '@talkies/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildWav, chunk, randomBytes, type WavLayoutOptions } from './__fixtures__/build-wav.js';
import { childProcessNames, fixtureDirectory, type FixtureDirectory } from './__fixtures__/generate-audio.js';
import { decodeAudio, decodeAudioStream, decodeChannels, openAudioStream, type StreamOptions } from './decode-audio.js';
import { probeAudio } from './probe-audio.js';
import { wavFastPathCounts } from './wav-fast-path.js';

let fixtures: FixtureDirectory;
let counter = 0;
const savedEnvironment = { ...process.env };

beforeAll(() => {
  fixtures = fixtureDirectory();
});
afterAll(() => fixtures.remove());
afterEach(() => {
  for (const name of ['TALKIES_WAV_FAST_PATH', 'TALKIES_FFMPEG', 'TALKIES_FFPROBE']) {
    if (savedEnvironment[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnvironment[name];
  }
});

function write(bytes: Uint8Array, name = `input-${++counter}.wav`): string {
  const path = join(fixtures.path, name);
  writeFileSync(path, bytes);
  return path;
}

type Outcome = { bytes: Buffer; channels: number } | { error: { code: string; message: string } };

/** The samples (as bytes, to compare bit for bit) or the error of one run. */
async function outcome(run: () => Promise<{ samples: Float32Array; channels: number }>): Promise<Outcome> {
  try {
    const { samples, channels } = await run();
    return { bytes: Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength), channels };
  } catch (error) {
    if (SpeechError.is(error)) return { error: { code: error.code, message: error.message } };
    throw error;
  }
}

/** Runs `work` with the fast path allowed, then forced off (ffprobe + ffmpeg); says which path the first took. */
async function bothPaths<T>(work: () => Promise<T>): Promise<{ fast: T; ffmpeg: T; probes: number; decodes: number }> {
  const before = { ...wavFastPathCounts };
  delete process.env.TALKIES_WAV_FAST_PATH;
  const fast = await work();
  const probes = wavFastPathCounts.probes - before.probes;
  const decodes = wavFastPathCounts.decodes - before.decodes;
  process.env.TALKIES_WAV_FAST_PATH = 'off';
  try {
    const ffmpeg = await work();
    expect(wavFastPathCounts.probes - before.probes).toBe(probes);
    expect(wavFastPathCounts.decodes - before.decodes).toBe(decodes);
    return { fast, ffmpeg, probes, decodes };
  } finally {
    delete process.env.TALKIES_WAV_FAST_PATH;
  }
}

async function probed(input: string | Uint8Array) {
  return probeAudio(input).catch((error: unknown) => (SpeechError.is(error) ? { code: error.code, message: error.message } : Promise.reject(error)));
}

/** Every channel, one after the other (or the error), and the probe. */
async function channelsAndProbe(input: string | Uint8Array) {
  const split = await outcome(async () => {
    const { channels } = await decodeChannels(input);
    return { samples: joined(channels), channels: channels.length };
  });
  return { split, probe: await probed(input) };
}

/** The blocks `openAudioStream` yields, joined (its first samples come before `blocks` is read). */
async function streamed(input: string | Uint8Array, options: StreamOptions): Promise<{ samples: Float32Array; channels: number }> {
  const audio = await openAudioStream(input, options);
  const blocks: Float32Array[] = [];
  for await (const block of audio.blocks) blocks.push(block);
  return { samples: joined(blocks), channels: audio.channels };
}


describe('plain 16-bit PCM WAV is read without ffprobe and ffmpeg, bit for bit as they read it', () => {
  // Each from a path; those marked also from bytes (piped to ffmpeg, which then cannot seek).
  const plain: Array<[string, WavLayoutOptions, 'and bytes'?]> = [
    ['mono', { channels: 1, frames: 16000 }, 'and bytes'],
    ['stereo', { channels: 2, frames: 16000 }, 'and bytes'],
    ['3 channels', { channels: 3, frames: 12345 }],
    ['one sample', { channels: 1, frames: 1 }],
    ['an odd number of frames', { channels: 1, frames: 4099 }],
    ['a LIST chunk before data', { channels: 2, frames: 3000, before: [{ id: 'LIST', body: Buffer.from('INFOISFT\x06\x00\x00\x00talky\x00', 'latin1') }] }, 'and bytes'],
    ['an odd-sized chunk and its pad byte', { channels: 1, frames: 5000, before: [{ id: 'JUNK', body: randomBytes(7, 3) }] }, 'and bytes'],
    ['an 18-byte fmt chunk with cbSize 0', { channels: 2, frames: 2000, fmtBytes: 18 }],
    ['a wrong RIFF size (ffmpeg ignores it)', { channels: 1, frames: 3000, riffSize: 12 }],
    ['one stray byte after the data', { channels: 1, frames: 3000, after: new Uint8Array([7]) }, 'and bytes'],
  ];

  it.each(plain)('%s: samples and probe equal ffmpeg’s and ffprobe’s %s', async (_name, layout, alsoBytes) => {
    const bytes = buildWav({ seed: ++counter, ...layout });
    const path = write(bytes);
    for (const input of alsoBytes ? [path, bytes] : [path]) {
      const { fast, ffmpeg, probes, decodes } = await bothPaths(() => channelsAndProbe(input));
      expect(probes).toBe(2);
      expect(decodes).toBe(1);
      expect(fast.split).toMatchObject({ channels: layout.channels });
      expect(fast.split).toEqual(ffmpeg.split);
      expect(fast.probe).toEqual(ffmpeg.probe);
      expect(fast.probe).toMatchObject({ format: 'wav', codec: 'pcm_s16le', sampleFormat: 's16', channels: layout.channels });
    }
  });

  it('3 channels: the downmix and picked channels equal ffmpeg’s, whole and streamed', async () => {
    const channels = 3;
    const path = write(buildWav({ channels, frames: 7001, seed: channels }));
    const mixed = await bothPaths(() => outcome(() => decodeAudio(path)));
    expect(mixed.decodes).toBe(1);
    expect(mixed.fast).toEqual(mixed.ffmpeg);
    for (const channel of [undefined, 1, 2]) {
      const picked = await bothPaths(() => outcome(() => streamed(path, channel === undefined ? {} : { channel })));
      expect(picked.decodes).toBe(1);
      expect(picked.fast).toMatchObject({ channels });
      expect(picked.fast).toEqual(picked.ffmpeg);
    }
  });

  it('reads a multi-megabyte file in several blocks, each channel picked and mixed as ffmpeg’s', async () => {
    const frames = 16000 * 40;
    const path = write(buildWav({ channels: 2, frames, seed: 42 }));
    for (const channel of [undefined, 0, 1]) {
      const { fast, ffmpeg, decodes } = await bothPaths(async () => {
        const blocks: Buffer[] = [];
        for await (const block of decodeAudioStream(path, channel === undefined ? {} : { channel })) {
          blocks.push(Buffer.from(block.buffer, block.byteOffset, block.byteLength));
        }
        return { blocks: blocks.length, bytes: Buffer.concat(blocks) };
      });
      expect(decodes).toBe(1);
      expect(fast.blocks).toBeGreaterThan(4);
      expect(fast.bytes.length).toBe(frames * 4);
      expect(fast.bytes.equals(ffmpeg.bytes)).toBe(true);
    }
  });

  it('gives the probe ffprobe gives, durations to the microsecond', async () => {
    // 125 frames at 16 kHz is 0.0078125 s, a tie that printf rounds to even (0.007812).
    for (const [channels, frames] of [[1, 125], [1, 375], [2, 16001], [3, 999]] as const) {
      const path = write(buildWav({ channels, frames, seed: frames }));
      const { fast, ffmpeg, probes } = await bothPaths(() => probeAudio(path));
      expect(probes).toBe(1);
      expect(fast).toEqual(ffmpeg);
    }
  });

  it('starts no ffprobe or ffmpeg: decoding works with both pointed at a missing program', async () => {
    const path = write(buildWav({ channels: 2, frames: 8000, seed: 5 }));
    const expected = await decodeAudio(path);
    process.env.TALKIES_FFPROBE = join(fixtures.path, 'no-such-ffprobe');
    process.env.TALKIES_FFMPEG = join(fixtures.path, 'no-such-ffmpeg');
    expect(await probeAudio(path)).toMatchObject({ format: 'wav', channels: 2, sampleRate: 16000, duration: 0.5 });
    expect((await decodeAudio(path)).samples).toEqual(expected.samples);
    const audio = await openAudioStream(readFileSync(path), { channel: 1 });
    let frames = 0;
    for await (const block of audio.blocks) frames += block.length;
    expect(frames).toBe(8000);
    // The same settings do reach the tools when a file needs them.
    const resampled = write(buildWav({ sampleRate: 44100, frames: 4410 }));
    const error = await decodeAudio(resampled).catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toContain('no-such-ffprobe');
  });

  it('applies the duration limit as before: the header’s and the decoded length’s', async () => {
    const bytes = buildWav({ channels: 1, frames: 16000 * 3, seed: 9 });
    const path = write(bytes);
    const fromPath = await bothPaths(() => outcome(() => decodeAudio(path, { maxSeconds: 2 })));
    expect(fromPath.probes).toBe(1);
    expect(fromPath.fast).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('the file says 3 s') as string },
    });
    expect(fromPath.fast).toEqual(fromPath.ffmpeg);
    // Piped bytes have no duration in ffprobe's answer: the decode cuts them off.
    const fromBytes = await bothPaths(() => outcome(() => decodeAudio(bytes, { maxSeconds: 2 })));
    expect(fromBytes.decodes).toBe(1);
    expect(fromBytes.fast).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('more than 2 s were decoded') as string },
    });
    expect(fromBytes.fast).toEqual(fromBytes.ffmpeg);
  });

  it('closes the file when the consumer stops early, and on abort', async () => {
    const path = write(buildWav({ channels: 1, frames: 16000 * 60, seed: 11 }));
    const openFiles = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === path;
        } catch {
          return false;
        }
      }).length;
    const audio = await openAudioStream(path);
    expect(openFiles()).toBe(1);
    for await (const block of audio.blocks) {
      expect(block.length).toBeGreaterThan(0);
      break;
    }
    expect(openFiles()).toBe(0);

    const opened = await openAudioStream(path);
    await opened.close();
    expect(openFiles()).toBe(0);

    const controller = new AbortController();
    const decodes = wavFastPathCounts.decodes;
    let blocks = 0;
    const error = await (async () => {
      for await (const _block of decodeAudioStream(path, { signal: controller.signal })) {
        if (++blocks === 2) controller.abort();
      }
    })().catch((caught: unknown) => caught);
    expect(wavFastPathCounts.decodes).toBe(decodes + 1);
    expect(SpeechError.is(error) && error.code).toBe('ABORTED');
    expect(blocks).toBe(2);
    expect(openFiles()).toBe(0);
    expect(childProcessNames()).not.toContain('ffmpeg');
  });

  it('holds one block at a time while a long file streams', async () => {
    const path = write(buildWav({ channels: 1, frames: 16000 * 600, seed: 13 })); // 10 minutes: 19 MB, 38 MB as float32
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let frames = 0;
    let blocks = 0;
    for await (const block of decodeAudioStream(path)) {
      frames += block.length;
      if (++blocks % 8 === 0) {
        gc?.();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      }
    }
    expect(frames).toBe(16000 * 600);
    expect(blocks).toBeGreaterThan(70);
    // One 256 KiB read buffer and the 512 KiB block in hand; whole, it would be 38 MB (and
    // the 19 MB file). The bound leaves room for what else the test process holds live at
    // that moment (CI measured 4.8 MB once, on a busy machine).
    expect(peak).toBeLessThan(12 * 1024 * 1024);
  });
});

describe('everything else goes to ffprobe and ffmpeg, with their results', () => {
  const frames = 3000;
  const secondData = Buffer.concat([chunk('data', randomBytes(800, 77))]);
  const declined: Array<[string, () => Uint8Array]> = [
    ['44.1 kHz (would need resampling)', () => buildWav({ sampleRate: 44100, frames })],
    ['8-bit PCM', () => buildWav({ bitsPerSample: 8, frames })],
    ['24-bit PCM', () => buildWav({ bitsPerSample: 24, frames })],
    ['32-bit PCM', () => buildWav({ bitsPerSample: 32, frames })],
    ['32-bit float', () => buildWav({ bitsPerSample: 32, formatTag: 3, data: new Uint8Array(new Float32Array(frames).fill(0.25).buffer) })],
    ['WAVE_FORMAT_EXTENSIBLE', () => buildWav({ formatTag: 0xfffe, fmtBytes: 40, channels: 2, frames })],
    ['data size 0', () => buildWav({ frames, declaredDataBytes: 0 })],
    ['data size 0xffffffff', () => buildWav({ frames, declaredDataBytes: 0xffffffff })],
    ['data size larger than the file', () => buildWav({ frames, declaredDataBytes: frames * 2 + 1000 })],
    ['data size smaller than the data', () => buildWav({ frames, declaredDataBytes: frames * 2 - 200 })],
    ['data size not a whole frame', () => buildWav({ channels: 2, frames, declaredDataBytes: frames * 4 - 2 })],
    ['a second data chunk', () => buildWav({ frames, after: secondData })],
    ['a chunk after the data', () => buildWav({ frames, after: chunk('LIST', Buffer.from('INFOISFT\x02\x00\x00\x00x\x00', 'latin1')) })],
    ['a fact chunk', () => buildWav({ frames, before: [{ id: 'fact', body: Buffer.from([0x10, 0, 0, 0]) }] })],
    ['two fmt chunks', () => buildWav({ frames, before: [{ id: 'fmt ', body: buildWav({ sampleRate: 8000, frames: 1 }).subarray(20, 36) }] })],
    ['an inconsistent byte rate', () => buildWav({ frames, byteRate: 12345 })],
    ['S/PDIF sync words in the data', () => buildWav({ frames, data: Buffer.concat([randomBytes(1000, 5), Buffer.from([0x72, 0xf8, 0x1f, 0x4e, 1, 0]), randomBytes(frames * 2 - 1006, 6)]) })],
    ['the ACT demuxer’s signature', () => {
      const data = new Uint8Array(frames * 2);
      data[256 - 44] = 0x84;
      data.set(randomBytes(frames * 2 - 600, 8), 600);
      return buildWav({ frames, data });
    }],
    ['a header cut short', () => buildWav({ frames }).subarray(0, 30)],
    ['a file cut in its data', () => buildWav({ frames }).subarray(0, 44 + frames)],
    ['not a WAV file', () => Buffer.from('this is not audio at all, just some text '.repeat(50))],
  ];

  // A probe the fast path declines is ffprobe's, and the decode given it runs ffmpeg: the
  // unchanged code. The cases where the fast path must not guess are compared with forced
  // ffmpeg from end to end; the others show the decline on the path and on the bytes.
  const compared = new Set(['44.1 kHz (would need resampling)', 'data size 0', 'data size 0xffffffff', 'data size larger than the file', 'a chunk after the data', 'the ACT demuxer’s signature', 'S/PDIF sync words in the data', 'not a WAV file']);

  it.each(declined)('%s', async (name, build) => {
    const bytes = build();
    const path = write(bytes);
    const before = { ...wavFastPathCounts };
    if (compared.has(name)) {
      const { fast, ffmpeg } = await bothPaths(() => channelsAndProbe(path));
      expect(fast).toEqual(ffmpeg);
    } else {
      await probed(path);
    }
    await probed(bytes);
    expect(wavFastPathCounts).toEqual(before);
  });

  // Compressed streams carried as 16-bit PCM, as real encoders write them: ffprobe names
  // the codec inside, and the fast path declines (wav-payload-sniff.ts).
  const carried: Array<[string, string, string[], boolean]> = [
    ['AC-3', 'ac3', ['-c:a', 'ac3', '-f', 'ac3'], false],
    ['AC-3, byte-swapped', 'ac3', ['-c:a', 'ac3', '-f', 'ac3'], true],
    ['DTS', 'dts', ['-c:a', 'dca', '-strict', '-2', '-f', 'dts'], false],
    ['DTS, byte-swapped', 'dts', ['-c:a', 'dca', '-strict', '-2', '-f', 'dts'], true],
    ['MP3', 'mp3', ['-c:a', 'libmp3lame', '-f', 'mp3'], false],
    ['ADTS AAC', 'aac', ['-c:a', 'aac', '-f', 'adts'], false],
    ['LATM AAC', 'aac_latm', ['-c:a', 'aac', '-f', 'latm'], false],
    ['TrueHD', 'truehd', ['-c:a', 'truehd', '-strict', '-2', '-f', 'truehd'], false],
  ];

  it.each(carried)('%s carried as PCM', async (name, codec, encode, swapped) => {
    const stream = readFileSync(
      fixtures.make(`${codec}-${++counter}.raw`, ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=1', '-ac', '2', ...encode]),
    );
    const data = Buffer.alloc(stream.length + (4 - (stream.length % 4)) % 4);
    stream.copy(data);
    if (swapped) data.swap16();
    const bytes = buildWav({ channels: 2, data });
    const path = write(bytes);
    const before = { ...wavFastPathCounts };
    expect(await probeAudio(path)).toMatchObject({ format: 'wav', codec });
    expect(await probeAudio(bytes)).toMatchObject({ format: 'wav', codec });
    expect(wavFastPathCounts).toEqual(before);
  });

  it('a probe from the fast path decodes through ffmpeg when another rate is asked for', async () => {
    const path = write(buildWav({ channels: 2, frames: 16000, seed: 21 }));
    const before = { ...wavFastPathCounts };
    const probe = await probeAudio(path);
    const decoded = await decodeAudio(path, { probe, sampleRate: 8000 });
    expect(wavFastPathCounts.probes).toBe(before.probes + 1);
    expect(wavFastPathCounts.decodes).toBe(before.decodes);
    expect(decoded.samples.length).toBe(8000);
  });

  it('a file replaced between the probe and the decode is decoded by ffmpeg', async () => {
    const path = write(buildWav({ channels: 1, frames: 16000, seed: 31 }));
    const probe = await probeAudio(path);
    const replacement = buildWav({ channels: 1, frames: 16000, seed: 32, after: secondData });
    writeFileSync(path, replacement);
    const decodes = wavFastPathCounts.decodes;
    const decoded = await decodeAudio(path, { probe });
    expect(wavFastPathCounts.decodes).toBe(decodes);
    process.env.TALKIES_WAV_FAST_PATH = 'off';
    expect(decoded.samples).toEqual((await decodeAudio(path)).samples);
  });

  it('ffmpeg reads only the last data chunk of a file, and every data chunk of piped bytes', async () => {
    // What the fast path would get wrong either way, measured on the real ffmpeg.
    const bytes = buildWav({ channels: 1, frames, seed: 41, after: secondData });
    const path = write(bytes);
    const fromPath = await bothPaths(() => decodeAudio(path));
    const fromBytes = await bothPaths(() => decodeAudio(bytes));
    expect(fromPath.decodes + fromBytes.decodes).toBe(0);
    expect(fromPath.fast.samples.length).toBe(400);
    expect(fromBytes.fast.samples.length).toBe(frames + 400);
    expect(fromPath.fast.samples).toEqual(fromPath.ffmpeg.samples);
    expect(fromBytes.fast.samples).toEqual(fromBytes.ffmpeg.samples);
  });
});
