import { SpeechError } from '@talkies/core';
import { collectProcess } from '@talkies/audio';
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
  return collectProcess(
    {
      tool: 'espeak-ng',
      command: espeakPath(),
      args,
      stdin: options.input === undefined ? undefined : Buffer.from(options.input, 'utf8'),
      signal: options.signal,
      failure: (stderrTail) => new SpeechError('INFERENCE_FAILED', `espeak-ng failed: ${stderrTail}`, { executor: 'espeak' }),
      missing: espeakMissingError,
      aborted: abortedError,
    },
    options.expectedBytes,
  );
}
