import { SpeechError } from '@talkies/core';
import type { AudioFormat } from './audio-formats.js';
import { ffmpegPath } from './check-ffmpeg.js';
import { floatToInt16Into } from './float-to-int16.js';
import { collectProcess } from './run-process.js';
import { WAV_HEADER_BYTES, wavHeader } from './wav-header.js';

/** Mono float32 PCM in [-1, 1]. */
export interface PcmAudio {
  samples: Float32Array;
  sampleRate: number;
}

/** The sample rates libopus accepts. */
const OPUS_SAMPLE_RATES = [8000, 12000, 16000, 24000, 48000];

/**
 * ffmpeg's codec arguments per format, shared by encodeAudio and encodeAudioStream so a
 * streamed answer and a whole one are the same encoding (a test compares their bytes).
 */
export function codecArguments(format: Exclude<AudioFormat, 'wav' | 'pcm'>, sampleRate: number): string[] {
  switch (format) {
    case 'mp3':
      return ['-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3'];
    case 'opus': {
      const rate = OPUS_SAMPLE_RATES.find((supported) => supported >= sampleRate) ?? 48000;
      return ['-ar', String(rate), '-c:a', 'libopus', '-b:a', '64k', '-f', 'ogg'];
    }
    case 'aac':
      return ['-c:a', 'aac', '-b:a', '128k', '-f', 'adts'];
    case 'flac':
      // 16-bit like wav and pcm; ffmpeg would otherwise keep float input's precision as 24-bit.
      return ['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac'];
  }
}

/** Float samples as raw bytes, without copying. */
export function float32Bytes(samples: Float32Array): Uint8Array {
  return new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
}

export function checkPcmSampleRate(sampleRate: number, what: string): void {
  if (!Number.isInteger(sampleRate) || sampleRate < 1000 || sampleRate > 768000) {
    throw new SpeechError('AUDIO_ENCODE_FAILED', `cannot ${what} audio at ${sampleRate} Hz; the engine must return an integer sample rate from 1000 to 768000`);
  }
}

/**
 * Raw little-endian s16 mono, optionally after a WAV header, built in one allocation.
 * Not zero-filled first (every byte is written below): zeroing a fresh 193 KB buffer cost
 * about 0.45 ms, more than the conversion itself.
 */
function encodePcm(audio: PcmAudio, withHeader: boolean): Buffer {
  const offset = withHeader ? WAV_HEADER_BYTES : 0;
  const output = Buffer.allocUnsafe(offset + audio.samples.length * 2);
  if (withHeader) wavHeader(audio.samples.length * 2, audio.sampleRate).copy(output, 0);
  floatToInt16Into(audio.samples, new Int16Array(output.buffer, output.byteOffset + offset, audio.samples.length));
  return output;
}

/**
 * Encodes mono float PCM: mp3 (libmp3lame 128k), opus (libopus 64k in Ogg), aac (ADTS
 * 128k), flac, wav (16-bit PCM) or pcm (raw s16le mono at the input's rate). wav and pcm
 * are written here without ffmpeg.
 */
export async function encodeAudio(audio: PcmAudio, format: AudioFormat, options: { signal?: AbortSignal } = {}): Promise<Buffer> {
  checkPcmSampleRate(audio.sampleRate, `encode ${format}`);
  if (format === 'pcm' || format === 'wav') {
    if (options.signal?.aborted) throw new SpeechError('ABORTED', 'encoding was stopped because the request was aborted');
    return encodePcm(audio, format === 'wav');
  }
  const encoded = await collectProcess(
    {
      tool: 'ffmpeg',
      command: ffmpegPath(),
      args: [
        '-hide_banner',
        '-nostdin',
        '-loglevel',
        'error',
        '-f',
        'f32le',
        '-ar',
        String(audio.sampleRate),
        '-ac',
        '1',
        '-i',
        'pipe:0',
        ...codecArguments(format, audio.sampleRate),
        'pipe:1',
      ],
      stdin: float32Bytes(audio.samples),
      signal: options.signal,
      failure: (stderrTail) =>
        new SpeechError('AUDIO_ENCODE_FAILED', `ffmpeg failed to encode ${format}: ${stderrTail}; check that ffmpeg was built with libmp3lame and libopus (Debian's is), or ask for wav or pcm`),
    },
    // A rough guess at the compressed size (about 16 kB per second) saves most regrowth.
    Math.max(16 * 1024, Math.round((audio.samples.length / audio.sampleRate) * 16 * 1024)),
  );
  if (format === 'flac') patchFlacTotalSamples(encoded, audio.samples.length);
  return encoded;
}

/**
 * ffmpeg writing FLAC to a pipe cannot seek back to fill in STREAMINFO's total sample
 * count, so players and ffprobe would report no duration. We know the count: write it.
 * Layout: "fLaC", a 4-byte block header, then STREAMINFO whose bytes 10..17 hold sample
 * rate (20 bits), channels-1 (3), bits-1 (5) and total samples (36).
 */
export function patchFlacTotalSamples(flac: Buffer, totalSamples: number): void {
  if (flac.length < 26 || flac.toString('latin1', 0, 4) !== 'fLaC' || (flac[4]! & 0x7f) !== 0) return;
  const offset = 8 + 10;
  const packed = flac.readBigUInt64BE(offset);
  const mask = (1n << 36n) - 1n;
  flac.writeBigUInt64BE((packed & ~mask) | (BigInt(totalSamples) & mask), offset);
}
