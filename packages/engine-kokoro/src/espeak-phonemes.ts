/**
 * Grapheme-to-phoneme with the system `espeak-ng` program, run as a separate process
 * (espeak-ng is GPL-3.0; a separate process keeps it at arm's length from this MIT
 * package). Imported only when a model loads: it spawns processes.
 *
 * Text goes in as an argument after `--` (text starting with "-" would otherwise be read
 * as an option): that gives the same line structure as the espeak-ng build inside the
 * `phonemizer` package kokoro.js uses, so the phonemes match kokoro.js's exactly.
 */
import { collectProcess } from '@talkies/audio';
import { SpeechError } from '@talkies/core';

/** The espeak-ng binary: `TALKIES_ESPEAK_NG`, else `espeak-ng` from PATH. */
export function espeakPath(): string {
  return process.env.TALKIES_ESPEAK_NG || 'espeak-ng';
}

/** Linux caps one argument at 128 KiB; longer text goes through stdin instead. */
const MAX_ARGUMENT_BYTES = 100_000;
/** Pieces of one sentence phonemised at once. */
export const PARALLEL_PROCESSES = 4;

export function espeakMissing(cause: unknown): SpeechError {
  return new SpeechError(
    'MODEL_UNAVAILABLE',
    `espeak-ng, which Kokoro uses to turn text into phonemes, could not be run (${(cause as Error)?.message ?? cause}); install it (Debian/Ubuntu: apt-get install espeak-ng) or point TALKIES_ESPEAK_NG at it`,
    { cause },
  );
}

function aborted(): SpeechError {
  return new SpeechError('ABORTED', 'phonemisation was stopped because the request was aborted');
}

/** Runs `espeak-ng -q --ipa -v <voice> -- <text>` and returns its non-empty output lines. */
export async function espeakIpa(text: string, voice: string, signal?: AbortSignal): Promise<string[]> {
  const viaStdin = Buffer.byteLength(text) > MAX_ARGUMENT_BYTES;
  // collectProcess starts it through @talkies/audio's process launcher: spawn() from a
  // process holding a model blocks the event loop for as long as forking it takes.
  const output = await collectProcess({
    tool: 'espeak-ng',
    command: espeakPath(),
    args: ['-q', '--ipa', '-v', voice, ...(viaStdin ? ['--stdin'] : ['--', text])],
    stdin: viaStdin ? Buffer.from(text, 'utf8') : undefined,
    signal,
    failure: (stderrTail) => new SpeechError('INFERENCE_FAILED', `espeak-ng failed on voice '${voice}': ${stderrTail}`),
    missing: espeakMissing,
    aborted,
  });
  return output
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0);
}

/** Runs `task` over `items` with at most `limit` at once, keeping the order of results. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
