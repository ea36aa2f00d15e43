import { SpeechError } from '@talkies/core';
import { ffmpegPath } from './check-ffmpeg.js';
import { checkPcmSampleRate, float32Bytes, type PcmAudio } from './encode-audio.js';
import { collectProcess } from './run-process.js';

/**
 * The ffmpeg filter that plays audio `factor` times faster without changing its pitch.
 * Older ffmpeg builds accept atempo only from 0.5 to 2, so larger changes are a chain.
 */
export function atempoFilter(factor: number): string {
  if (!Number.isFinite(factor) || factor <= 0) throw new SpeechError('INVALID_REQUEST', `speed must be a positive number, got ${factor}`, { param: 'speed' });
  const stages: number[] = [];
  let remaining = factor;
  while (remaining > 2) {
    stages.push(2);
    remaining /= 2;
  }
  while (remaining < 0.5) {
    stages.push(0.5);
    remaining /= 0.5;
  }
  stages.push(remaining);
  return stages.map((stage) => `atempo=${stage.toFixed(6)}`).join(',');
}

/** Plays mono float PCM `factor` times faster (0.5 halves the speed), keeping the pitch. */
export async function changeTempo(audio: PcmAudio, factor: number, options: { signal?: AbortSignal } = {}): Promise<PcmAudio> {
  const filter = atempoFilter(factor);
  if (Math.abs(factor - 1) < 1e-6) return audio;
  checkPcmSampleRate(audio.sampleRate, 'change the tempo of');
  const sampleRate = String(audio.sampleRate);
  const output = await collectProcess(
    {
      tool: 'ffmpeg',
      command: ffmpegPath(),
      args: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'f32le', '-ar', sampleRate, '-ac', '1', '-i', 'pipe:0', '-af', filter, '-c:a', 'pcm_f32le', '-f', 'f32le', '-ar', sampleRate, 'pipe:1'],
      stdin: float32Bytes(audio.samples),
      signal: options.signal,
      failure: (stderrTail) => new SpeechError('AUDIO_ENCODE_FAILED', `ffmpeg failed to change the tempo (${filter}): ${stderrTail}`),
    },
    Math.ceil((audio.samples.byteLength / factor) * 1.05) + 4096,
  );
  return { samples: new Float32Array(output.buffer, output.byteOffset, Math.floor(output.byteLength / 4)), sampleRate: audio.sampleRate };
}
