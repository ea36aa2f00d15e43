import { describe, expect, it } from 'vitest';
import { randomBytes } from './__fixtures__/build-wav.js';
import { mayHoldCompressedAudio } from './wav-payload-sniff.js';

const WINDOW = 128 * 1024;

function pcm(sample: (index: number) => number): Uint8Array {
  const values = new Int16Array(WINDOW / 2);
  for (let index = 0; index < values.length; index++) values[index] = Math.max(-32768, Math.min(32767, Math.round(sample(index))));
  return new Uint8Array(values.buffer);
}

describe('mayHoldCompressedAudio', () => {
  // What carried streams look like is tested with real encoders in wav-fast-path.test.ts;
  // here: ordinary audio must not look like one, or plain WAVs would lose the fast path.
  it('says no for noise over the whole range, quiet noise, tones, silence and clipping', () => {
    for (let seed = 1; seed <= 8; seed++) expect(mayHoldCompressedAudio(randomBytes(WINDOW, seed), 0)).toBe(false);
    for (let seed = 1; seed <= 8; seed++) {
      const noise = randomBytes(WINDOW, seed + 100);
      // Within ±(2^seed): samples whose high byte is 0x00 or 0xff, the bytes sync words start with.
      expect(mayHoldCompressedAudio(pcm((index) => ((noise[index] - 128) * 2 ** seed) / 128), 0)).toBe(false);
    }
    for (const frequency of [50, 440, 1000, 3999]) {
      for (const amplitude of [1, 100, 10000, 40000]) {
        expect(mayHoldCompressedAudio(pcm((index) => amplitude * Math.sin((2 * Math.PI * frequency * index) / 16000)), 0)).toBe(false);
      }
    }
    for (const constant of [0, -1, 1, -32768, 32767, -256, -32, 0x7ffe]) expect(mayHoldCompressedAudio(pcm(() => constant), 0)).toBe(false);
    // Looser than ffmpeg (no CRC): a constant 0x0b77 reads as a run of E-AC-3 frame headers
    // here and goes to ffmpeg, which costs time, not correctness.
    expect(mayHoldCompressedAudio(pcm(() => 0x0b77), 0)).toBe(true);
  });

  it('says yes for sync words or a run of frames where ffmpeg looks', () => {
    const data = randomBytes(4096, 3);
    data.set([0xf8, 0x72, 0x6f, 0xba], 1000);
    expect(mayHoldCompressedAudio(data, 0)).toBe(true);
    const dts = randomBytes(8192, 4);
    for (const at of [100, 2000, 4000]) dts.set([0xfe, 0x7f, 0x01, 0x80], at);
    expect(mayHoldCompressedAudio(dts, 0)).toBe(false); // three markers: ffmpeg wants four
    dts.set([0xfe, 0x7f, 0x01, 0x80], 6000);
    expect(mayHoldCompressedAudio(dts, 0)).toBe(true);
    // Seven MPEG-1 layer III frames of 128 kbit/s at 44.1 kHz, 417 bytes each, after 44 header bytes.
    const frames = new Uint8Array(44 + 417 * 7).fill(0x11);
    for (let frame = 0; frame < 7; frame++) frames.set([0xff, 0xfb, 0x90, 0x00], 44 + frame * 417);
    expect(mayHoldCompressedAudio(frames, 44)).toBe(true);
    expect(mayHoldCompressedAudio(frames.subarray(0, 44 + 417 * 6), 44)).toBe(false); // six: too few
    expect(mayHoldCompressedAudio(frames, 40)).toBe(false); // not at the start of the data
  });

  it('reads 128 KiB quickly', () => {
    const data = pcm((index) => ((index * 7919) % 61) - 30);
    const started = performance.now();
    for (let round = 0; round < 10; round++) mayHoldCompressedAudio(data, 0);
    // About a millisecond each on a 2-core CI machine; the bound leaves room for load.
    expect((performance.now() - started) / 10).toBeLessThan(50);
  });
});
