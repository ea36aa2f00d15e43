import { SpeechError } from '@talkies/core';
import { GrowingBuffer, launchProcess } from '@talkies/audio';
import { abortedError, espeakMissingError } from './espeak-errors.js';

/** The espeak-ng binary: `TALKIES_ESPEAK_NG`, else `espeak-ng` from PATH. */
export function espeakPath(): string {
  return process.env.TALKIES_ESPEAK_NG || 'espeak-ng';
}

export interface RunEspeakOptions {
  /** Written to stdin, which is then closed. */
  input?: string;
  signal?: AbortSignal;
  /** A guess at the output size, to spare regrowing the buffer. */
  expectedBytes?: number;
}

/**
 * Runs espeak-ng and returns its stdout. A missing binary is MODEL_UNAVAILABLE, a non-zero
 * exit INFERENCE_FAILED with its stderr, and an aborted signal kills it (ABORTED).
 */
export function runEspeak(args: readonly string[], options: RunEspeakOptions = {}): Promise<Buffer> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortedError());
  return new Promise((resolve, reject) => {
    const child = launchProcess(espeakPath(), args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const output = new GrowingBuffer(options.expectedBytes);
    let stderr = '';
    let spawnError: Error | undefined;
    child.stdout!.on('data', (chunk: Buffer) => output.append(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr = (stderr + text).slice(-2000);
    });
    const kill = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (error: Error) => {
      spawnError = error;
    });
    child.once('close', (code: number | null) => {
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) reject(abortedError());
      else if (spawnError) reject(espeakMissingError(spawnError));
      else if (code !== 0) reject(new SpeechError('INFERENCE_FAILED', `espeak-ng failed: ${stderr.trim() || `exited with code ${code}`}`, { executor: 'espeak' }));
      else resolve(output.toBuffer());
    });
    if (options.input !== undefined) {
      // espeak-ng exits early on a bad voice; the exit code explains that, not the EPIPE.
      child.stdin!.on('error', () => {});
      child.stdin!.end(options.input, 'utf8');
    }
  });
}
