/**
 * Test fixtures made on the fly with ffmpeg's lavfi sources, so no audio blob is committed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FixtureDirectory {
  path: string;
  /** Runs ffmpeg with `args` writing `name` in the directory; returns its path. */
  make(name: string, args: readonly string[]): string;
  /** A sine tone of `seconds` in any container/codec ffmpeg picks from the extension. */
  tone(name: string, options?: { seconds?: number; sampleRate?: number; extra?: readonly string[] }): string;
  remove(): void;
}

export function fixtureDirectory(): FixtureDirectory {
  const path = mkdtempSync(join(tmpdir(), 'talkies-audio-test-'));
  const make = (name: string, args: readonly string[]) => {
    const output = join(path, name);
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args, output], { stdio: ['ignore', 'ignore', 'pipe'] });
    return output;
  };
  return {
    path,
    make,
    tone: (name, options = {}) =>
      make(name, [
        '-f',
        'lavfi',
        '-i',
        `sine=frequency=440:sample_rate=${options.sampleRate ?? 44100}:duration=${options.seconds ?? 2}`,
        ...(options.extra ?? []),
      ]),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** Command names of the live child processes of this one (asks ps). */
/** Names of this process's descendants (programs run through the process launcher are grandchildren). */
export function childProcessNames(): string[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 3)
    .map(([pid, ppid, ...name]) => ({ pid: Number(pid), ppid: Number(ppid), name: name.join(' ') }));
  const descendants = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of table) {
      if (descendants.has(row.ppid) && !descendants.has(row.pid)) {
        descendants.add(row.pid);
        grew = true;
      }
    }
  }
  return table.filter((row) => row.pid !== process.pid && descendants.has(row.pid) && row.name !== 'ps' && row.name !== 'node').map((row) => row.name);
}

export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}
