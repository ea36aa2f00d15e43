/**
 * Wyoming audio: the format of an `audio-start`/`audio-chunk` checked, and its PCM turned
 * into mono float32 for the live transcription path (which resamples it to 16 kHz).
 * Samples are signed little-endian integers of `width` bytes, interleaved by channel, as
 * the reference library's converter (Python's audioop) reads them.
 */
import { SpeechError } from '@talkies/core';

export interface WyomingAudioFormat {
  rate: number;
  width: 1 | 2 | 4;
  channels: number;
}

export const MIN_RATE = 8000;
export const MAX_RATE = 192_000;
export const MAX_CHANNELS = 8;

/** The format an audio event declares, or a 400 naming what to send. */
export function audioFormat(data: Record<string, unknown>, event: string): WyomingAudioFormat {
  const { rate, width, channels } = data;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new SpeechError('INVALID_REQUEST', `"rate" of ${event} must be a whole number of Hz from ${MIN_RATE} to ${MAX_RATE} (Home Assistant sends 16000), not ${JSON.stringify(rate)}`, { param: 'rate' });
  }
  if (width !== 1 && width !== 2 && width !== 4) {
    throw new SpeechError('INVALID_REQUEST', `"width" of ${event} must be 1, 2 or 4 bytes per sample (16-bit audio is 2), not ${JSON.stringify(width)}`, { param: 'width' });
  }
  if (typeof channels !== 'number' || !Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new SpeechError('INVALID_REQUEST', `"channels" of ${event} must be from 1 to ${MAX_CHANNELS}, not ${JSON.stringify(channels)}`, { param: 'channels' });
  }
  return { rate, width, channels };
}

/** Interleaved signed PCM → mono float32 in [-1, 1] (channels averaged). */
export function pcmToMono(payload: Buffer, format: WyomingAudioFormat): Float32Array {
  const frameBytes = format.width * format.channels;
  if (payload.length % frameBytes !== 0) {
    throw new SpeechError(
      'INVALID_REQUEST',
      `an audio-chunk of ${payload.length} bytes is not a whole number of frames of ${frameBytes} bytes (${format.channels} channel(s) × ${format.width} byte(s))`,
    );
  }
  const frames = payload.length / frameBytes;
  const mono = new Float32Array(frames);
  const scale = 1 / (2 ** (8 * format.width - 1) * format.channels);
  for (let frame = 0; frame < frames; frame++) {
    let sum = 0;
    for (let channel = 0; channel < format.channels; channel++) {
      const offset = frame * frameBytes + channel * format.width;
      sum += format.width === 2 ? payload.readInt16LE(offset) : format.width === 4 ? payload.readInt32LE(offset) : payload.readInt8(offset);
    }
    mono[frame] = sum * scale;
  }
  return mono;
}
