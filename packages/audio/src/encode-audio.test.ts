import { SpeechError } from '@talkies/core';
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIO_CONTENT_TYPES, AUDIO_FORMATS, isAudioFormat, type AudioFormat } from './audio-formats.js';
import { decodeAudio } from './decode-audio.js';
import { encodeAudio } from './encode-audio.js';
import { floatToInt16 } from './float-to-int16.js';
import { probeAudio } from './probe-audio.js';

function tone(seconds: number, sampleRate: number): Float32Array {
  const samples = new Float32Array(Math.round(seconds * sampleRate));
  for (let index = 0; index < samples.length; index++) samples[index] = 0.5 * Math.sin((2 * Math.PI * 440 * index) / sampleRate);
  return samples;
}

const audio = { samples: tone(1, 24000), sampleRate: 24000 };

const expectedCodec: Record<Exclude<AudioFormat, 'pcm'>, string> = {
  mp3: 'mp3',
  opus: 'opus',
  aac: 'aac',
  flac: 'flac',
  wav: 'pcm_s16le',
};

function startsWithMagic(format: AudioFormat, bytes: Buffer): boolean {
  switch (format) {
    case 'mp3':
      return bytes.subarray(0, 3).toString('latin1') === 'ID3' || bytes[0] === 0xff;
    case 'opus':
      return bytes.subarray(0, 4).toString('latin1') === 'OggS';
    case 'aac':
      return bytes[0] === 0xff && (bytes[1] & 0xf0) === 0xf0;
    case 'flac':
      return bytes.subarray(0, 4).toString('latin1') === 'fLaC';
    case 'wav':
      return bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WAVE';
    case 'pcm':
      return true;
  }
}

describe('audio formats', () => {
  it('lists the OpenAI response formats with their content types', () => {
    expect(AUDIO_FORMATS).toEqual(['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm']);
    expect(AUDIO_CONTENT_TYPES).toEqual({
      mp3: 'audio/mpeg',
      opus: 'audio/ogg',
      aac: 'audio/aac',
      flac: 'audio/flac',
      wav: 'audio/wav',
      pcm: 'application/octet-stream',
    });
    expect(isAudioFormat('opus')).toBe(true);
    expect(isAudioFormat('ogg')).toBe(false);
  });
});

describe('encodeAudio', () => {
  const previousFfmpeg = process.env.TALKIES_FFMPEG;
  afterEach(() => {
    if (previousFfmpeg === undefined) delete process.env.TALKIES_FFMPEG;
    else process.env.TALKIES_FFMPEG = previousFfmpeg;
  });

  it.each(['mp3', 'opus', 'aac', 'flac', 'wav'] as const)('encodes %s that ffprobe recognises', async (format) => {
    const encoded = await encodeAudio(audio, format);
    expect(startsWithMagic(format, encoded)).toBe(true);
    const info = await probeAudio(encoded);
    expect(info.codec).toBe(expectedCodec[format]);
    expect(info.channels).toBe(1);
    // 16-bit, as wav and pcm are.
    if (format === 'flac' || format === 'wav') expect(info.sampleFormat).toBe('s16');
    const decoded = await decodeAudio(encoded);
    expect(decoded.duration).toBeGreaterThan(0.95);
    expect(decoded.duration).toBeLessThan(1.1);
  });

  it('writes pcm as raw s16le mono at the input rate', async () => {
    const encoded = await encodeAudio(audio, 'pcm');
    expect(encoded.byteLength).toBe(audio.samples.length * 2);
    const expected = floatToInt16(audio.samples);
    expect(new Int16Array(encoded.buffer, encoded.byteOffset, encoded.byteLength / 2)).toEqual(expected);
  });

  it('writes wav with a proper RIFF header', async () => {
    const encoded = await encodeAudio({ samples: tone(0.5, 22050), sampleRate: 22050 }, 'wav');
    expect(encoded.byteLength).toBe(44 + 11025 * 2);
    expect(encoded.readUInt32LE(4)).toBe(encoded.byteLength - 8);
    expect(encoded.readUInt16LE(22)).toBe(1);
    expect(encoded.readUInt32LE(24)).toBe(22050);
    expect(encoded.readUInt16LE(34)).toBe(16);
    expect(encoded.readUInt32LE(40)).toBe(11025 * 2);
  });

  it('resamples opus from a rate libopus does not take', async () => {
    const encoded = await encodeAudio({ samples: tone(1, 22050), sampleRate: 22050 }, 'opus');
    expect((await probeAudio(encoded)).codec).toBe('opus');
    expect((await decodeAudio(encoded)).duration).toBeCloseTo(1, 1);
  });

  it('fails with AUDIO_ENCODE_FAILED when ffmpeg fails', async () => {
    process.env.TALKIES_FFMPEG = '/bin/false';
    const error = await encodeAudio(audio, 'mp3').catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.code).toBe('AUDIO_ENCODE_FAILED');
  });

  it('rejects a sample rate that is not an integer', async () => {
    const error = await encodeAudio({ samples: audio.samples, sampleRate: 0 }, 'wav').catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.code).toBe('AUDIO_ENCODE_FAILED');
  });
});
