import { SpeechError } from '@talkies/core';
import { ffmpegPath } from './check-ffmpeg.js';
import { GrowingFloat32Array } from './growing-buffer.js';
import { parseWavHeader, wavSamplesToFloat, type WavHeaderInfo } from './parse-wav.js';
import { emptyUploadError, resolveInput, runProcess, type AudioInput } from './run-process.js';

export interface DecodeOptions {
  /** Output sample rate in Hz (default 16000). */
  sampleRate?: number;
  /** Aborting it kills ffmpeg and rejects with SpeechError('ABORTED'). */
  signal?: AbortSignal;
}

export interface DecodedAudio {
  /** Mono float32 PCM in [-1, 1]. */
  samples: Float32Array;
  sampleRate: number;
  /** How many channels the source had (they are averaged into `samples`). */
  channels: number;
  /** Seconds: `samples.length / sampleRate`. */
  duration: number;
}

export interface DecodedChannels {
  /** One float32 array per source channel, in the source's channel order. */
  channels: Float32Array[];
  sampleRate: number;
  duration: number;
}

const DEFAULT_SAMPLE_RATE = 16000;

export function noAudioStreamError(tool: 'ffmpeg' | 'ffprobe'): SpeechError {
  return new SpeechError('AUDIO_DECODE_FAILED', `${tool}: no audio stream in upload; send a file with an audio track`);
}

function decodeFailure(stderrTail: string): SpeechError {
  if (/matches no streams|does not contain any stream/i.test(stderrTail)) return noAudioStreamError('ffmpeg');
  return new SpeechError(
    'AUDIO_DECODE_FAILED',
    `ffmpeg failed: ${stderrTail}; send an audio or video file ffmpeg can read (wav, mp3, ogg, opus, flac, m4a, webm, …), complete and not truncated`,
  );
}

function checkSampleRate(sampleRate: number): number {
  if (!Number.isInteger(sampleRate) || sampleRate < 1000 || sampleRate > 768000) {
    throw new SpeechError('INTERNAL', `decode sample rate must be an integer from 1000 to 768000 Hz, got ${sampleRate}`);
  }
  return sampleRate;
}

interface DecodedChunk {
  channels: number;
  /** Complete frames, channels interleaved; the first chunk may be empty (header only). */
  interleaved: Float32Array;
}

function concatenate(first: Uint8Array, second: Uint8Array): Uint8Array {
  if (first.byteLength === 0) return second;
  const joined = new Uint8Array(first.byteLength + second.byteLength);
  joined.set(first);
  joined.set(second, first.byteLength);
  return joined;
}

/**
 * Decodes the first audio stream at the source's channel count. ffmpeg writes a WAV stream
 * so that the channel count arrives in the header of the same pass: one process, no
 * separate probe, and inputs that are streams need not be replayable.
 */
async function* decodeFrames(input: AudioInput, options: DecodeOptions): AsyncGenerator<DecodedChunk> {
  const sampleRate = checkSampleRate(options.sampleRate ?? DEFAULT_SAMPLE_RATE);
  const { argument, stdin } = await resolveInput(input);
  const output = runProcess({
    tool: 'ffmpeg',
    command: ffmpegPath(),
    args: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', argument, '-map', '0:a:0', '-ar', String(sampleRate), '-c:a', 'pcm_f32le', '-f', 'wav', 'pipe:1'],
    stdin,
    signal: options.signal,
    // ffmpeg names the input by its path, which is the server's business, not the client's.
    failure: (stderrTail) => decodeFailure(stderrTail.replaceAll(argument, 'input')),
    empty: emptyUploadError,
  });
  let header: WavHeaderInfo | undefined;
  let pending: Uint8Array = new Uint8Array(0);
  for await (const chunk of output) {
    let bytes = concatenate(pending, chunk);
    if (!header) {
      header = parseWavHeader(bytes);
      if (!header) {
        pending = bytes;
        continue;
      }
      bytes = bytes.subarray(header.dataOffset);
      yield { channels: header.channels, interleaved: new Float32Array(0) };
    }
    const frameBytes = header.channels * (header.bitsPerSample / 8);
    const usable = bytes.byteLength - (bytes.byteLength % frameBytes);
    pending = bytes.slice(usable);
    if (usable > 0) yield { channels: header.channels, interleaved: wavSamplesToFloat(bytes.subarray(0, usable), header) };
  }
  if (!header) throw new SpeechError('AUDIO_DECODE_FAILED', 'ffmpeg produced no audio; send a file with an audio track');
}

/** Averages interleaved channels into one. */
function downmix({ channels, interleaved }: DecodedChunk): Float32Array {
  if (channels === 1) return interleaved;
  const frames = interleaved.length / channels;
  const mono = new Float32Array(frames);
  for (let frame = 0, index = 0; frame < frames; frame++) {
    let sum = 0;
    for (let channel = 0; channel < channels; channel++) sum += interleaved[index++];
    mono[frame] = sum / channels;
  }
  return mono;
}

/**
 * Decodes anything ffmpeg reads to mono float32 (16 kHz unless `sampleRate` says
 * otherwise), averaging the channels of a multichannel source.
 */
export async function decodeAudio(input: AudioInput, options: DecodeOptions = {}): Promise<DecodedAudio> {
  const sampleRate = checkSampleRate(options.sampleRate ?? DEFAULT_SAMPLE_RATE);
  const output = new GrowingFloat32Array(sampleRate * 30);
  let channels = 0;
  for await (const chunk of decodeFrames(input, options)) {
    channels = chunk.channels;
    if (chunk.interleaved.length > 0) output.append(downmix(chunk));
  }
  const samples = output.toFloat32Array();
  return { samples, sampleRate, channels, duration: samples.length / sampleRate };
}

/** Decodes to one float32 array per source channel (for stereo call recordings: L, R). */
export async function decodeChannels(input: AudioInput, options: DecodeOptions = {}): Promise<DecodedChannels> {
  const sampleRate = checkSampleRate(options.sampleRate ?? DEFAULT_SAMPLE_RATE);
  let outputs: GrowingFloat32Array[] = [];
  for await (const { channels, interleaved } of decodeFrames(input, options)) {
    if (outputs.length === 0) outputs = Array.from({ length: channels }, () => new GrowingFloat32Array(sampleRate * 30));
    const frames = interleaved.length / channels;
    if (frames === 0) continue;
    for (let channel = 0; channel < channels; channel++) {
      const values = new Float32Array(frames);
      for (let frame = 0; frame < frames; frame++) values[frame] = interleaved[frame * channels + channel];
      outputs[channel].append(values);
    }
  }
  const channels = outputs.map((output) => output.toFloat32Array());
  return { channels, sampleRate, duration: (channels[0]?.length ?? 0) / sampleRate };
}

/**
 * Decodes like {@link decodeAudio}, yielding mono float32 chunks as ffmpeg produces them.
 * Leaving the loop early kills ffmpeg.
 */
export async function* decodeAudioStream(input: AudioInput, options: DecodeOptions = {}): AsyncGenerator<Float32Array, void, undefined> {
  for await (const chunk of decodeFrames(input, options)) {
    if (chunk.interleaved.length > 0) yield downmix(chunk);
  }
}
