import { SpeechError } from '@talkies/core';
import { ffprobePath } from './check-ffmpeg.js';
import { noAudioStreamError } from './decode-audio.js';
import { collectProcess, emptyUploadError, resolveInput, type AudioInput } from './run-process.js';

export interface AudioInfo {
  channels: number;
  /** Seconds, or null when the container does not say (common for piped input). */
  duration: number | null;
  /** ffprobe's codec_name, for example `pcm_s16le`, `mp3`, `opus`. */
  codec: string;
  sampleRate: number;
}

interface ProbeOutput {
  streams?: Array<{ codec_name?: string; channels?: number; sample_rate?: string; duration?: string }>;
  format?: { duration?: string };
}

function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const parsed = Number.parseFloat(value);
  return Number.isFinite(parsed) ? parsed : null;
}

/** Describes the first audio stream of the input. A stream input is consumed. */
export async function probeAudio(input: AudioInput, options: { signal?: AbortSignal } = {}): Promise<AudioInfo> {
  const { argument, stdin } = await resolveInput(input);
  const output = await collectProcess(
    {
      tool: 'ffprobe',
      command: ffprobePath(),
      args: ['-hide_banner', '-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,channels,sample_rate,duration:format=duration', '-of', 'json', argument],
      stdin,
      signal: options.signal,
      failure: (stderrTail) =>
        new SpeechError('AUDIO_DECODE_FAILED', `ffprobe failed: ${stderrTail.replaceAll(argument, 'input')}; send an audio or video file ffmpeg can read, complete and not truncated`),
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
  return {
    channels: stream.channels ?? 0,
    duration: seconds(stream.duration) ?? seconds(parsed.format?.duration),
    codec: stream.codec_name ?? 'unknown',
    sampleRate: Number.parseInt(stream.sample_rate ?? '0', 10) || 0,
  };
}
