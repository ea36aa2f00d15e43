import { SpeechError } from '@talkies/core';
import { ffprobePath } from './check-ffmpeg.js';
import {
  DEFAULT_SAMPLE_RATE,
  inputArguments,
  MAX_SOURCE_CHANNELS,
  noAudioStreamError,
  refusedFormatError,
  SOURCE_SAMPLE_RATE_LIMITS,
  undecodableError,
} from './input-policy.js';
import { collectProcess, emptyUploadError, resolveInput, type AudioInput } from './run-process.js';
import { probePlainWav } from './wav-fast-path.js';

export interface AudioInfo {
  /** The ffmpeg demuxer that reads the input (`wav`, `mp3`, `mov`, `matroska`, …). */
  format: string;
  channels: number;
  /** Seconds, or null when the container does not say (common for piped input). */
  duration: number | null;
  /** ffprobe's codec_name, for example `pcm_s16le`, `mp3`, `opus`. */
  codec: string;
  /** ffprobe's sample_fmt of the decoded samples, for example `s16`, `s32`, `fltp`. */
  sampleFormat: string;
  sampleRate: number;
}

/** Limits a probe checks the header against before anything is decoded. */
export interface ProbeLimits {
  /** Longest declared duration accepted, seconds (the decode enforces it again on what it reads). */
  maxSeconds?: number;
}

interface ProbeOutput {
  streams?: Array<{ codec_name?: string; sample_fmt?: string; channels?: number; sample_rate?: string; duration?: string }>;
  format?: { format_name?: string; duration?: string };
}

function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const parsed = Number.parseFloat(value);
  return Number.isFinite(parsed) ? parsed : null;
}

/** The 413 for audio longer than the limit (TALKIES_MAX_AUDIO_SECONDS in the server). */
export function tooLongError(maxSeconds: number, what: string): SpeechError {
  return new SpeechError(
    'PAYLOAD_TOO_LARGE',
    `audio too long: ${what}, more than the ${maxSeconds} s allowed; send a shorter recording or raise TALKIES_MAX_AUDIO_SECONDS`,
    { param: 'file' },
  );
}

/**
 * Refuses a header no real recording has: a sample rate outside 1 kHz to 768 kHz, more
 * than 32 channels, a declared duration beyond `limits.maxSeconds`. Such headers turn a
 * small file into hours of decoded audio.
 */
export function checkAudioHeader(info: AudioInfo, limits: ProbeLimits = {}): AudioInfo {
  const { min, max } = SOURCE_SAMPLE_RATE_LIMITS;
  if (info.sampleRate !== 0 && (info.sampleRate < min || info.sampleRate > max)) {
    throw new SpeechError(
      'AUDIO_DECODE_FAILED',
      `audio refused: its header claims ${info.sampleRate} samples per second; talkies reads ${min} to ${max} Hz. Send a real recording`,
      { param: 'file' },
    );
  }
  if (info.channels > MAX_SOURCE_CHANNELS) {
    throw new SpeechError(
      'AUDIO_DECODE_FAILED',
      `audio refused: its header claims ${info.channels} channels; talkies reads at most ${MAX_SOURCE_CHANNELS}. Mix it down first`,
      { param: 'file' },
    );
  }
  if (limits.maxSeconds !== undefined && info.duration !== null && info.duration > limits.maxSeconds) {
    throw tooLongError(limits.maxSeconds, `the file says ${Math.round(info.duration)} s`);
  }
  return info;
}

export interface ProbeOptions {
  signal?: AbortSignal;
  limits?: ProbeLimits;
  /**
   * The rate the input will be decoded at (default 16000). A plain 16-bit PCM WAV file or
   * bytes at this rate are read here rather than by ffprobe, and the decode given this
   * probe then reads them itself too (see wav-fast-path.ts).
   */
  sampleRate?: number;
}

/**
 * Describes the first audio stream of the input, reading only the input itself (see
 * input-policy.ts): a playlist, concat list or other format that points at further files
 * is refused with a 400 naming it, before it opens anything. A stream input is consumed.
 * With `limits`, an absurd header is refused too ({@link checkAudioHeader}).
 */
export async function probeAudio(input: AudioInput, options: ProbeOptions = {}): Promise<AudioInfo> {
  if ((typeof input === 'string' || input instanceof Uint8Array) && !options.signal?.aborted) {
    const plain = await probePlainWav(input, options.sampleRate ?? DEFAULT_SAMPLE_RATE);
    if (plain) return options.limits ? checkAudioHeader(plain, options.limits) : plain;
  }
  const { argument, stdin } = await resolveInput(input);
  // ffmpeg names the demuxer it picked only at debug level, and only before it applies the
  // whitelist: watch for that line as it goes by.
  let stderr = '';
  let probed: string | undefined;
  const output = await collectProcess(
    {
      tool: 'ffprobe',
      command: ffprobePath(),
      args: [
        '-hide_banner', '-loglevel', 'level+debug',
        ...inputArguments(argument),
        '-select_streams', 'a:0',
        '-show_entries', 'stream=codec_name,sample_fmt,channels,sample_rate,duration:format=format_name,duration',
        '-of', 'json',
      ],
      stdin,
      signal: options.signal,
      onStderr(text) {
        stderr = (stderr + text).slice(-64 * 1024);
        probed ??= /Format (\S+) probed with size/.exec(stderr)?.[1];
      },
      failure: (tail) => {
        const errors = stderr
          .split('\n')
          .filter((line) => /\[(error|fatal|panic|warning)\]|probed with size/.test(line))
          .join('\n')
          .slice(-2000) || tail;
        if (probed && /Format not on whitelist/.test(stderr)) return refusedFormatError(probed, errors);
        return undecodableError('ffprobe', errors);
      },
      empty: emptyUploadError,
    },
    4096,
  );
  let parsed: ProbeOutput;
  try {
    parsed = JSON.parse(output.toString('utf8')) as ProbeOutput;
  } catch (error) {
    throw new SpeechError('AUDIO_DECODE_FAILED', `ffprobe printed something that is not JSON; check that TALKIES_FFPROBE is ffprobe`, { cause: error });
  }
  const stream = parsed.streams?.[0];
  if (!stream) throw noAudioStreamError('ffprobe');
  const info: AudioInfo = {
    format: (parsed.format?.format_name ?? probed ?? 'unknown').split(',')[0]!,
    channels: stream.channels ?? 0,
    duration: seconds(stream.duration) ?? seconds(parsed.format?.duration),
    codec: stream.codec_name ?? 'unknown',
    sampleFormat: stream.sample_fmt ?? 'unknown',
    sampleRate: Number.parseInt(stream.sample_rate ?? '0', 10) || 0,
  };
  return options.limits ? checkAudioHeader(info, options.limits) : info;
}
