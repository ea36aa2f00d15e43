/**
 * Test access to ../shared, the real recordings and reference assets that sit beside the
 * repository in development and CI. A user's clone has no ../shared: tests that need it
 * skip with a message instead of failing. `TALKIES_SHARED_DIR` overrides the place;
 * otherwise the first `shared` folder beside the working directory or one of its
 * ancestors is used (so a git worktree under another folder finds it too).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

function findShared(start: string): string {
  if (process.env.TALKIES_SHARED_DIR) return resolve(process.env.TALKIES_SHARED_DIR);
  for (let directory = start; ; directory = dirname(directory)) {
    const candidate = resolve(directory, '../shared');
    if (existsSync(join(candidate, 'audio'))) return candidate;
    if (dirname(directory) === directory) return resolve(start, '../shared');
  }
}

/** The shared folder (it may not exist: check with {@link hasShared}). Tests run from the repository root. */
export const sharedDirectory = findShared(process.cwd());
export const audioDirectory = join(sharedDirectory, 'audio');

/** True when the named files exist under ../shared; otherwise warns and returns false. */
export function hasShared(...relativePaths: string[]): boolean {
  const missing = relativePaths.filter((path) => !existsSync(join(sharedDirectory, path)));
  if (missing.length > 0) {
    console.warn(`skipping: ${missing.map((path) => join(sharedDirectory, path)).join(', ')} not found (../shared is absent in a plain clone)`);
    return false;
  }
  return true;
}

/** Reads a 16-bit PCM WAV into float32 per channel. */
export function readWav(path: string): { sampleRate: number; channels: Float32Array[] } {
  const buffer = readFileSync(path);
  if (buffer.toString('ascii', 0, 4) !== 'RIFF' || buffer.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path} is not a WAV file`);
  let offset = 12;
  let channelCount = 1;
  let sampleRate = 16000;
  let bits = 16;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      channelCount = buffer.readUInt16LE(body + 2);
      sampleRate = buffer.readUInt32LE(body + 4);
      bits = buffer.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${path}: only 16-bit PCM is supported`);
      const frames = Math.floor(size / 2 / channelCount);
      const channels = Array.from({ length: channelCount }, () => new Float32Array(frames));
      for (let frame = 0; frame < frames; frame++) {
        for (let channel = 0; channel < channelCount; channel++) {
          channels[channel]![frame] = buffer.readInt16LE(body + (frame * channelCount + channel) * 2) / 32768;
        }
      }
      return { sampleRate, channels };
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${path} has no data chunk`);
}

/** jfk.wav from ../shared/audio as 16 kHz mono float32. */
export function readJfk(): Float32Array {
  return readWav(join(audioDirectory, 'jfk.wav')).channels[0]!;
}
