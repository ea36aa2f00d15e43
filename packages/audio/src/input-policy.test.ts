import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SpeechError } from '@talkies/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childProcessNames, fixtureDirectory, rms, type FixtureDirectory } from './__fixtures__/generate-audio.js';
import { decodeAudio, decodeAudioStream, openAudioStream } from './decode-audio.js';
import { probeAudio } from './probe-audio.js';

let fixtures: FixtureDirectory;
let secret: string;

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

beforeAll(() => {
  fixtures = fixtureDirectory();
  secret = fixtures.tone('secret.mp3', { seconds: 3 });
});
afterAll(() => fixtures.remove());

async function failure(promise: Promise<unknown>): Promise<SpeechError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!SpeechError.is(error)) throw new Error(`expected a SpeechError, got ${String(error)}`);
  return error;
}

async function drain(stream: AsyncIterable<Float32Array>): Promise<number> {
  let samples = 0;
  for await (const block of stream) samples += block.length;
  return samples;
}

describe('ffmpeg reads only the input it is handed', () => {
  const playlist = () => `#EXTM3U\n#EXT-X-TARGETDURATION:11\n#EXTINF:11.0,\nfile://${secret}\n#EXT-X-ENDLIST\n`;

  it('plain ffmpeg would follow the playlist (the attack this guards against)', () => {
    const path = join(fixtures.path, 'attack.m3u8');
    writeFileSync(path, playlist());
    const output = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name', '-of', 'csv=p=0', path], { encoding: 'utf8' });
    expect(output.trim()).toBe('hls');
  });

  it.each(['list.m3u8', 'list.wav', 'list'])('refuses an HLS playlist named %s, by name, from a path and from bytes', async (name) => {
    const path = join(fixtures.path, name);
    writeFileSync(path, playlist());
    for (const input of [path, readFileSync(path)]) {
      const error = await failure(decodeAudio(input));
      expect(error.code).toBe('AUDIO_DECODE_FAILED');
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/^input refused: it is a 'hls' file, which points at other files or URLs/);
      expect(error.message).not.toContain(fixtures.path);
    }
    expect((await failure(probeAudio(path))).message).toMatch(/'hls'/);
  });

  it('refuses a playlist piped as a stream, and never yields the referenced audio', async () => {
    const error = await failure(drain(decodeAudioStream(Readable.from([Buffer.from(playlist())]))));
    expect(error.code).toBe('AUDIO_DECODE_FAILED');
    expect(error.message).toMatch(/^input refused: its format is not an audio format talkies reads/);
  });

  it('refuses ffconcat and SDP, which open other files and sockets', async () => {
    const concat = join(fixtures.path, 'list.txt');
    writeFileSync(concat, `ffconcat version 1.0\nfile '${secret}'\n`);
    expect((await failure(decodeAudio(concat))).message).toMatch(/it is a 'concat' file/);
    const sdp = join(fixtures.path, 'session.sdp');
    writeFileSync(sdp, 'v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n');
    expect((await failure(decodeAudio(sdp))).message).toMatch(/it is a 'sdp' file/);
  });

  it('a file named like a URL or protocol is read as a file, nothing else', async () => {
    const path = join(fixtures.path, 'concat:a.wav|b.wav');
    writeFileSync(path, readFileSync(fixtures.tone('plain.wav', { seconds: 1, sampleRate: 16000 })));
    expect((await decodeAudio(path)).samples.length).toBe(16000);
  });
});

describe('decoding is bounded whatever the header says', () => {
  it('refuses a header claiming 4 Hz, or 64 channels at 1 Hz, before ffmpeg decodes anything', async () => {
    const slow = await failure(decodeAudio(lyingWav(2, 4, 320_000)));
    expect(slow.code).toBe('AUDIO_DECODE_FAILED');
    expect(slow.message).toMatch(/claims 4 samples per second; talkies reads 1000 to 768000 Hz/);
    const wide = join(fixtures.path, 'wide.wav');
    writeFileSync(wide, lyingWav(64, 1, 320_000));
    const many = await failure(decodeAudio(wide));
    expect(many.message).toMatch(/claims (64 channels|1 samples per second)/);
  });

  it('refuses more channels than allowed from a stream too, from the decoded header', async () => {
    // A real 40-channel WAV (0.1 s of silence): streams are not probed, the decoded header tells.
    const error = await failure(drain(decodeAudioStream(Readable.from([lyingWav(40, 8000, 40 * 2 * 800)]))));
    expect(error.message).toMatch(/claims 40 channels; talkies reads at most 32/);
  });

  it('refuses a declared duration over maxSeconds with 413 before decoding', async () => {
    const path = fixtures.tone('thirty.flac', { seconds: 30, sampleRate: 16000 });
    const error = await failure(decodeAudio(path, { maxSeconds: 10 }));
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.status).toBe(413);
    expect(error.message).toMatch(/the file says 30 s, more than the 10 s allowed; .*TALKIES_MAX_AUDIO_SECONDS/);
  });

  it('stops decoding audio that is longer than its header said, as soon as maxSeconds is passed', async () => {
    // A FLAC whose STREAMINFO claims 1 s over 60 s of samples: the probe believes it.
    const bytes = readFileSync(fixtures.tone('lying.flac', { seconds: 60, sampleRate: 16000 }));
    const packed = bytes.readBigUInt64BE(18);
    bytes.writeBigUInt64BE((packed & ~((1n << 36n) - 1n)) | 16000n, 18);
    const path = join(fixtures.path, 'lying-header.flac');
    writeFileSync(path, bytes);
    expect((await probeAudio(path)).duration).toBe(1);
    expect((await decodeAudio(path)).duration).toBeCloseTo(60, 1);
    let yielded = 0;
    const error = await failure(
      (async () => {
        for await (const block of decodeAudioStream(path, { maxSeconds: 10 })) yielded += block.length;
      })(),
    );
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.message).toMatch(/more than 10 s were decoded/);
    expect(yielded).toBeLessThanOrEqual(10 * 16000);
    expect(childProcessNames()).not.toContain('ffmpeg');
  });

  it('says there is no audio for a WAV with a header and no samples', async () => {
    const empty = lyingWav(1, 16000, 0);
    for (const input of [empty, Readable.from([empty])]) {
      const error = await failure(decodeAudio(input));
      expect(error.code).toBe('AUDIO_DECODE_FAILED');
      expect(error.message).toMatch(/^no audio: the file has an audio header but no samples/);
    }
    expect((await failure(openAudioStream(empty))).message).toMatch(/^no audio/);
  });
});

describe('openAudioStream', () => {
  it('knows the channel count before the first block is read, and streams one channel', async () => {
    const stereo = fixtures.make('left-only.flac', [
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000:duration=3',
      '-f', 'lavfi', '-i', 'anullsrc=sample_rate=16000:channel_layout=mono',
      '-filter_complex', '[0:a][1:a]amerge=inputs=2[out]', '-map', '[out]', '-t', '3',
    ]);
    const levels: number[] = [];
    for (const channel of [0, 1]) {
      const opened = await openAudioStream(stereo, { channel });
      expect(opened.channels).toBe(2);
      expect(opened.info).toMatchObject({ format: 'flac', channels: 2, sampleRate: 16000 });
      const blocks: Float32Array[] = [];
      for await (const block of opened.blocks) blocks.push(block);
      const joined = Float32Array.from(blocks.flatMap((block) => Array.from(block)));
      expect(joined.length).toBe(48000);
      levels.push(rms(joined));
    }
    expect(levels[0]).toBeGreaterThan(0.05);
    expect(levels[1]).toBeLessThan(0.001);
  });

  it('close() stops ffmpeg when the blocks are never read', async () => {
    const opened = await openAudioStream(fixtures.tone('long.wav', { seconds: 20, sampleRate: 16000 }));
    await opened.close();
    expect(childProcessNames()).not.toContain('ffmpeg');
  });
});
