import { SpeechError } from '@talkies/core';
import { ffmpegPath } from './check-ffmpeg.js';
import { GrowingFloat32Array } from './growing-buffer.js';
import { parseWavHeader, wavSamplesToFloat, type WavHeaderInfo } from './parse-wav.js';
import {
  DEFAULT_SAMPLE_RATE,
  inputArguments,
  MAX_SOURCE_CHANNELS,
  noAudioStreamError,
  refusedFormatError,
  undecodableError,
} from './input-policy.js';
import { checkAudioHeader, probeAudio, tooLongError, type AudioInfo } from './probe-audio.js';
import { emptyUploadError, resolveInput, runProcess, type AudioInput } from './run-process.js';
import { openPlainWav, type PlainWavReader } from './wav-fast-path.js';

export interface DecodeOptions {
  /** Output sample rate in Hz (default 16000). */
  sampleRate?: number;
  /** Aborting it kills ffmpeg and rejects with SpeechError('ABORTED'). */
  signal?: AbortSignal;
  /**
   * The most seconds of audio to decode. A header that declares more is refused before
   * decoding; audio that turns out longer than its header said is cut off as soon as the
   * limit is passed. Either way: SpeechError('PAYLOAD_TOO_LARGE'), 413.
   */
  maxSeconds?: number;
  /** What {@link probeAudio} said about this input, when the caller already asked (saves a second probe). */
  probe?: AudioInfo;
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

/** A file with an audio header and no samples. */
export function noSamplesError(): SpeechError {
  return new SpeechError('AUDIO_DECODE_FAILED', 'no audio: the file has an audio header but no samples; send a recording that contains sound', {
    param: 'file',
  });
}

function decodeFailure(stderrTail: string): SpeechError {
  if (/matches no streams|does not contain any stream/i.test(stderrTail)) return noAudioStreamError('ffmpeg');
  // Without a probe (stream inputs) ffmpeg does not say which demuxer it refused.
  if (/not on whitelist/i.test(stderrTail)) return refusedFormatError(undefined, stderrTail);
  return undecodableError('ffmpeg', stderrTail);
}

function checkSampleRate(sampleRate: number): number {
  if (!Number.isInteger(sampleRate) || sampleRate < 1000 || sampleRate > 768000) {
    throw new SpeechError('INTERNAL', `decode sample rate must be an integer from 1000 to 768000 Hz, got ${sampleRate}`);
  }
  return sampleRate;
}

interface DecodedChunk {
  channels: number;
  /** Complete frames, channels interleaved; the first chunk is empty (header only). */
  interleaved: Float32Array;
  /** On the first chunk: the probe of a file or bytes input (streams are not probed). */
  info?: AudioInfo;
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
 * so that the channel count arrives in the header of the same pass, and inputs that are
 * streams need not be replayable.
 *
 * A path or bytes are probed first (input-policy.ts): only the input itself is read,
 * formats that point at other files are refused by name, absurd headers and declared
 * durations beyond `maxSeconds` are refused, and the decode is pinned to the demuxer the
 * probe found. Streams cannot be probed and replayed; they get the same whitelists and
 * the limits below.
 */
async function* decodeFrames(input: AudioInput, options: DecodeOptions): AsyncGenerator<DecodedChunk> {
  const sampleRate = checkSampleRate(options.sampleRate ?? DEFAULT_SAMPLE_RATE);
  const limits = { maxSeconds: options.maxSeconds };
  const maxFrames = options.maxSeconds === undefined ? Infinity : Math.ceil(options.maxSeconds * sampleRate);
  let info: AudioInfo | undefined;
  if (options.probe) info = checkAudioHeader(options.probe, limits);
  else if (typeof input === 'string' || input instanceof Uint8Array) info = await probeAudio(input, { signal: options.signal, limits, sampleRate });
  // A probe that read a plain 16-bit WAV itself (wav-fast-path.ts) lets the decode read it too.
  const plain = info && (typeof input === 'string' || input instanceof Uint8Array) ? await openPlainWav(input, info, sampleRate) : undefined;
  if (plain) {
    yield* plainWavFrames(plain, info, options.signal, maxFrames, options.maxSeconds);
    return;
  }
  const { argument, stdin } = await resolveInput(input);
  const output = runProcess({
    tool: 'ffmpeg',
    command: ffmpegPath(),
    args: [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      ...inputArguments(argument, info?.format),
      '-map', '0:a:0', '-ar', String(sampleRate), '-c:a', 'pcm_f32le', '-f', 'wav', 'pipe:1',
    ],
    stdin,
    signal: options.signal,
    // ffmpeg names the input by its path, which is the server's business, not the client's.
    failure: (stderrTail) => decodeFailure(stderrTail.replaceAll(argument, 'input')),
    empty: emptyUploadError,
  });
  let header: WavHeaderInfo | undefined;
  let pending: Uint8Array = new Uint8Array(0);
  let frames = 0;
  for await (const chunk of output) {
    let bytes = concatenate(pending, chunk);
    if (!header) {
      header = parseWavHeader(bytes);
      if (!header) {
        pending = bytes;
        continue;
      }
      if (header.channels > MAX_SOURCE_CHANNELS) {
        checkAudioHeader({ format: 'unknown', channels: header.channels, duration: null, codec: 'unknown', sampleFormat: 'unknown', sampleRate: 0 });
      }
      bytes = bytes.subarray(header.dataOffset);
      yield { channels: header.channels, interleaved: new Float32Array(0), info };
    }
    const frameBytes = header.channels * (header.bitsPerSample / 8);
    const usable = bytes.byteLength - (bytes.byteLength % frameBytes);
    pending = bytes.slice(usable);
    if (usable === 0) continue;
    frames += usable / frameBytes;
    // Leaving the loop kills ffmpeg: a header that lied about the length costs no more than the limit.
    if (frames > maxFrames) throw tooLongError(options.maxSeconds!, `more than ${options.maxSeconds} s were decoded`);
    yield { channels: header.channels, interleaved: wavSamplesToFloat(bytes.subarray(0, usable), header) };
  }
  if (!header) throw new SpeechError('AUDIO_DECODE_FAILED', 'ffmpeg produced no audio; send a file with an audio track');
  if (frames === 0) throw noSamplesError();
}

/** {@link decodeFrames} for a plain WAV read in JavaScript: the same chunks ffmpeg's output gives. */
async function* plainWavFrames(
  plain: PlainWavReader,
  info: AudioInfo | undefined,
  signal: AbortSignal | undefined,
  maxFrames: number,
  maxSeconds: number | undefined,
): AsyncGenerator<DecodedChunk> {
  try {
    const { channels } = plain;
    yield { channels, interleaved: new Float32Array(0), info };
    let frames = 0;
    for await (const interleaved of plain.blocks(signal)) {
      frames += interleaved.length / channels;
      if (frames > maxFrames) throw tooLongError(maxSeconds!, `more than ${maxSeconds} s were decoded`);
      yield { channels, interleaved };
    }
    if (frames === 0) throw noSamplesError();
  } finally {
    await plain.close();
  }
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

/** Which channel a stream yields: one source channel by index, or all of them averaged. */
export interface StreamOptions extends DecodeOptions {
  /** A source channel (0 is left) instead of the average of all of them. */
  channel?: number;
}

function pickChannel(chunk: DecodedChunk, channel: number | undefined): Float32Array {
  if (channel === undefined) return downmix(chunk);
  if (channel >= chunk.channels) {
    throw new SpeechError('INVALID_REQUEST', `channel ${channel} asked for, but the source has ${chunk.channels} channel(s)`);
  }
  const frames = chunk.interleaved.length / chunk.channels;
  const values = new Float32Array(frames);
  for (let frame = 0, index = channel; frame < frames; frame++, index += chunk.channels) values[frame] = chunk.interleaved[index];
  return values;
}

/**
 * Decodes like {@link decodeAudio}, yielding mono float32 chunks as ffmpeg produces them
 * (or one source channel's, with `channel`). Leaving the loop early kills ffmpeg.
 */
export async function* decodeAudioStream(input: AudioInput, options: StreamOptions = {}): AsyncGenerator<Float32Array, void, undefined> {
  for await (const chunk of decodeFrames(input, options)) {
    if (chunk.interleaved.length > 0) yield pickChannel(chunk, options.channel);
  }
}

/** A decode that has started and produced its first samples. */
export interface OpenedAudio {
  /** The source's channel count. */
  channels: number;
  /** The probe of a path or bytes input (undefined for streams). */
  info: AudioInfo | undefined;
  /** The samples, mono (or the chosen channel), from the first; iterate once. */
  blocks: AsyncGenerator<Float32Array, void, undefined>;
  /** Stops ffmpeg if it still runs; call it whether or not `blocks` was read. */
  close(): Promise<void>;
}

/**
 * Starts decoding and waits for the first samples, so that everything that can be wrong
 * with the input (format, header, no audio stream, no samples) is known before the caller
 * commits to anything, such as loading a model. Then stream {@link OpenedAudio.blocks}.
 */
export async function openAudioStream(input: AudioInput, options: StreamOptions = {}): Promise<OpenedAudio> {
  const frames = decodeFrames(input, options);
  const close = async () => {
    await frames.return(undefined);
  };
  try {
    const header = await frames.next();
    if (header.done) throw new SpeechError('AUDIO_DECODE_FAILED', 'ffmpeg produced no audio; send a file with an audio track');
    let first = await frames.next();
    while (!first.done && first.value.interleaved.length === 0) first = await frames.next();
    const { channels, info } = header.value;
    async function* blocks(): AsyncGenerator<Float32Array, void, undefined> {
      try {
        if (first.done) return;
        yield pickChannel(first.value, options.channel);
        for (let next = await frames.next(); !next.done; next = await frames.next()) yield pickChannel(next.value, options.channel);
      } finally {
        await close();
      }
    }
    return { channels, info, blocks: blocks(), close };
  } catch (error) {
    await close();
    throw error;
  }
}
