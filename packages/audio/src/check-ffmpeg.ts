import { spawn } from 'node:child_process';
import { SpeechError } from '@talkies/core';

/** The ffmpeg binary: `TALKIES_FFMPEG`, else `ffmpeg` from PATH. */
export function ffmpegPath(): string {
  return process.env.TALKIES_FFMPEG || 'ffmpeg';
}

/** The ffprobe binary: `TALKIES_FFPROBE`, else `ffprobe` from PATH. */
export function ffprobePath(): string {
  return process.env.TALKIES_FFPROBE || 'ffprobe';
}

/** The error for a missing or broken ffmpeg/ffprobe, telling how to install it. */
export function missingToolError(tool: 'ffmpeg' | 'ffprobe', path: string, cause?: unknown): SpeechError {
  const variable = tool === 'ffmpeg' ? 'TALKIES_FFMPEG' : 'TALKIES_FFPROBE';
  return new SpeechError(
    'CONFIG_INVALID',
    `${tool} is not installed or does not run (tried '${path}'); install it with \`apt-get install ffmpeg\` (or run ./scripts/up), or set ${variable} to its path`,
    { cause },
  );
}

function readVersion(tool: 'ffmpeg' | 'ffprobe', path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(path, ['-version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      if (output.length < 4096) output += text;
    });
    child.once('error', (error) => reject(missingToolError(tool, path, error)));
    child.once('close', (code) => {
      const version = new RegExp(`^${tool} version (\\S+)`).exec(output)?.[1];
      if (code === 0 && version) resolve(version);
      else reject(missingToolError(tool, path, new Error(`'${path} -version' exited with ${code}: ${output.slice(0, 200)}`)));
    });
  });
}

export interface FfmpegCheck {
  /** The ffmpeg binary that was checked. */
  ffmpeg: string;
  /** The ffprobe binary that was checked. */
  ffprobe: string;
  /** ffmpeg's version string, for example `5.1.6-0+deb12u1`. */
  version: string;
}

const checks = new Map<string, Promise<FfmpegCheck>>();

/**
 * Checks that ffmpeg and ffprobe run, once per pair of binary paths. Throws
 * SpeechError('CONFIG_INVALID') telling how to install them. A failure is not cached, so
 * installing ffmpeg while the server runs fixes it without a restart.
 */
export function checkFfmpeg(): Promise<FfmpegCheck> {
  const ffmpeg = ffmpegPath();
  const ffprobe = ffprobePath();
  const key = `${ffmpeg}\0${ffprobe}`;
  let check = checks.get(key);
  if (!check) {
    check = Promise.all([readVersion('ffmpeg', ffmpeg), readVersion('ffprobe', ffprobe)]).then(([version]) => ({
      ffmpeg,
      ffprobe,
      version,
    }));
    checks.set(key, check);
    check.catch(() => checks.delete(key));
  }
  return check;
}
