import { SpeechError } from '@talkies/core';
import { describe, expect, it } from 'vitest';
import { floatToInt16, int16ToFloat } from './float-to-int16.js';
import { parseWav, parseWavHeader } from './parse-wav.js';
import { wavHeader } from './wav-header.js';

function wav(samples: Int16Array, sampleRate: number, channels = 1): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  return Buffer.concat([wavHeader(data.byteLength, sampleRate, channels), data]);
}

describe('floatToInt16', () => {
  it('scales and clamps', () => {
    expect(Array.from(floatToInt16(new Float32Array([0, 1, -1, 2, -2, 0.5, -0.5, Number.NaN])))).toEqual([
      0, 32767, -32768, 32767, -32768, 16384, -16384, 0,
    ]);
  });

  it('round-trips through int16ToFloat within one step', () => {
    const samples = new Float32Array([0.1, -0.25, 0.999, -0.999]);
    const back = int16ToFloat(floatToInt16(samples));
    for (let index = 0; index < samples.length; index++) expect(Math.abs(back[index] - samples[index])).toBeLessThan(1 / 16384);
  });
});

describe('wavHeader and parseWav', () => {
  it('writes a 44-byte 16-bit PCM header that parseWav reads back', () => {
    const samples = new Int16Array([0, 1000, -1000, 32767, -32768]);
    const bytes = wav(samples, 22050);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(bytes.readUInt32LE(4)).toBe(36 + 10);
    expect(bytes.readUInt32LE(28)).toBe(44100);
    const parsed = parseWav(bytes);
    expect(parsed.sampleRate).toBe(22050);
    expect(parsed.channels).toBe(1);
    expect(Array.from(parsed.samples)).toEqual(Array.from(int16ToFloat(samples)));
  });

  it('uses the real length when the size fields are 0 or 0x7fffffff (espeak-ng --stdout)', () => {
    for (const size of [0, 0x7fffffff, 0x7ffff000, 0xffffffff]) {
      const bytes = wav(new Int16Array([1, 2, 3, 4]), 22050);
      bytes.writeUInt32LE(size >>> 0, 4);
      bytes.writeUInt32LE(size >>> 0, 40);
      expect(parseWav(bytes).samples.length).toBe(4);
    }
  });

  it('keeps multichannel samples interleaved and drops a trailing partial frame', () => {
    const bytes = Buffer.concat([wav(new Int16Array([100, -100, 200, -200]), 16000, 2), Buffer.from([1])]);
    bytes.writeUInt32LE(0, 40);
    const parsed = parseWav(bytes);
    expect(parsed.channels).toBe(2);
    expect(parsed.samples.length).toBe(4);
    expect(parsed.samples[1]).toBeCloseTo(-100 / 32768);
  });

  it('skips chunks between fmt and data', () => {
    const plain = wav(new Int16Array([5, 6]), 8000);
    const list = Buffer.from('LIST\x05\x00\x00\x00INFOx\x00', 'latin1');
    const bytes = Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]);
    expect(parseWav(bytes).samples.length).toBe(2);
  });

  it('waits for more bytes while the header is incomplete', () => {
    const bytes = wav(new Int16Array([1]), 8000);
    expect(parseWavHeader(bytes.subarray(0, 30))).toBeUndefined();
    expect(parseWavHeader(bytes)?.dataOffset).toBe(44);
  });

  it('rejects what is not a WAV file', () => {
    let error: unknown;
    try {
      parseWav(Buffer.from('ID3 this is an mp3 pretending'));
    } catch (caught) {
      error = caught;
    }
    expect(SpeechError.is(error) && error.code).toBe('AUDIO_DECODE_FAILED');
  });
});
