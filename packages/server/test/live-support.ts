/**
 * Recordings for the live-transcription tests, made by the real espeak-ng and ffmpeg:
 * spoken phrases separated by silence, as mono float32 at any rate (or as WAV).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Recording {
  /** Mono float32 samples at `sampleRate`. */
  samples: Float32Array;
  sampleRate: number;
  /** The same audio as a 16-bit PCM WAV file's bytes. */
  wav: Buffer;
}

/**
 * `phrases` spoken by espeak-ng, each after `gapSeconds` of silence, with `gapSeconds`
 * of silence at the end, resampled by ffmpeg to `sampleRate`.
 */
export async function spokenRecording(phrases: string[], sampleRate: number, gapSeconds = 1): Promise<Recording> {
  const directory = await mkdtemp(join(tmpdir(), 'talkies-live-'));
  try {
    const inputs: string[] = [];
    const parts: string[] = [];
    for (const [index, phrase] of phrases.entries()) {
      const path = join(directory, `phrase-${index}.wav`);
      await run('espeak-ng', ['-w', path, phrase]);
      inputs.push('-f', 'lavfi', '-t', String(gapSeconds), '-i', `anullsrc=r=22050:cl=mono`, '-i', path);
      parts.push(`[${2 * index}:a]`, `[${2 * index + 1}:a]`);
    }
    inputs.push('-f', 'lavfi', '-t', String(gapSeconds), '-i', 'anullsrc=r=22050:cl=mono');
    parts.push(`[${2 * phrases.length}:a]`);
    const filter = `${parts.map((part, index) => `${part}aformat=sample_rates=22050:channel_layouts=mono[p${index}]`).join(';')};${parts
      .map((_, index) => `[p${index}]`)
      .join('')}concat=n=${parts.length}:v=0:a=1[out]`;
    const wavPath = join(directory, 'recording.wav');
    await run('ffmpeg', ['-loglevel', 'error', '-y', ...inputs, '-filter_complex', filter, '-map', '[out]', '-ar', String(sampleRate), '-ac', '1', '-c:a', 'pcm_s16le', wavPath]);
    const wav = await readFile(wavPath);
    // The data chunk of ffmpeg's WAV: find it rather than assume a 44-byte header.
    const data = wav.indexOf('data', 12, 'ascii');
    const length = wav.readUInt32LE(data + 4);
    const pcm = wav.subarray(data + 8, data + 8 + length);
    const samples = new Float32Array(pcm.length / 2);
    for (let index = 0; index < samples.length; index++) samples[index] = pcm.readInt16LE(index * 2) / 32768;
    return { samples, sampleRate, wav };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Float samples to 16-bit little-endian PCM bytes (what a realtime client appends). */
export function toPcm16(samples: Float32Array): Buffer {
  const bytes = Buffer.alloc(samples.length * 2);
  for (let index = 0; index < samples.length; index++) bytes.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[index]! * 32768))), index * 2);
  return bytes;
}

/** Waits until `check` is true, polling; fails after `timeoutMs` with `what` in the message. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
