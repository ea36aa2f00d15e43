/**
 * Settings of the long-audio VAD chunker, read from `TALKIES_VAD_*` the way the Python
 * talkies reads them (same names, same defaults).
 */
import { parseDuration } from './duration.js';
import { SpeechError } from './speech-error.js';

export interface LongAudioOptions {
  /**
   * Audio longer than this many seconds is cut into speech chunks; audio of exactly this
   * length or shorter goes to the backend whole (`TALKIES_VAD_CHUNK_THRESHOLD`, 30).
   */
  thresholdSeconds: number;
  /**
   * No chunk sent to the backend is longer than this many seconds, padding included
   * (`TALKIES_VAD_MAX_SPEECH`, 28).
   */
  maxSpeechSeconds: number;
  /** A 32 ms window is speech when Silero's probability is at least this (`TALKIES_VAD_THRESHOLD`, 0.5). */
  threshold: number;
  /**
   * A speech region ends after this much non-speech (`TALKIES_VAD_MIN_SILENCE_MS`, 500;
   * counted in whole 32 ms windows, so 500 ms is 15 windows).
   */
  minSilenceMs: number;
  /** Audio kept on each side of a speech region (`TALKIES_VAD_SPEECH_PAD_MS`, 200). */
  speechPadMs: number;
}

export const DEFAULT_LONG_AUDIO_OPTIONS: Readonly<LongAudioOptions> = Object.freeze({
  thresholdSeconds: 30,
  maxSpeechSeconds: 28,
  threshold: 0.5,
  minSilenceMs: 500,
  speechPadMs: 200,
});

/** Reads one variable's text; throws an Error whose message says what a valid value looks like. */
type Reader = (value: string) => number;

function readSeconds(value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new Error('must be a number of seconds (30, 28.5) or a Go-style duration (1m, 90s)');
  }
}

const positiveSeconds: Reader = (value) => {
  const number = readSeconds(value);
  if (!(number > 0)) throw new Error('must be more than 0 seconds');
  return number;
};

const milliseconds: Reader = (value) => {
  const number = Number(value.trim());
  if (!Number.isFinite(number) || number < 0) throw new Error('must be a number of milliseconds, 0 or more');
  return number;
};

const probability: Reader = (value) => {
  const number = Number(value.trim());
  if (!Number.isFinite(number) || number <= 0 || number > 1) throw new Error('must be a probability above 0 and at most 1, like 0.5');
  return number;
};

const VARIABLES: ReadonlyArray<readonly [string, keyof LongAudioOptions, Reader]> = [
  ['TALKIES_VAD_CHUNK_THRESHOLD', 'thresholdSeconds', readSeconds],
  ['TALKIES_VAD_MAX_SPEECH', 'maxSpeechSeconds', positiveSeconds],
  ['TALKIES_VAD_THRESHOLD', 'threshold', probability],
  ['TALKIES_VAD_MIN_SILENCE_MS', 'minSilenceMs', milliseconds],
  ['TALKIES_VAD_SPEECH_PAD_MS', 'speechPadMs', milliseconds],
];

/**
 * Reads `TALKIES_VAD_CHUNK_THRESHOLD`, `TALKIES_VAD_MAX_SPEECH`, `TALKIES_VAD_THRESHOLD`,
 * `TALKIES_VAD_MIN_SILENCE_MS` and `TALKIES_VAD_SPEECH_PAD_MS`; unset or blank keeps the
 * default. Every invalid variable is reported at once, by name, in one CONFIG_INVALID error.
 */
export function parseLongAudioEnvironment(environment: NodeJS.ProcessEnv = process.env): LongAudioOptions {
  const options: LongAudioOptions = { ...DEFAULT_LONG_AUDIO_OPTIONS };
  const problems: string[] = [];
  for (const [name, key, read] of VARIABLES) {
    const value = environment[name];
    if (value === undefined || value.trim() === '') continue;
    try {
      options[key] = read(value);
    } catch (error) {
      problems.push(`${name}='${value}' ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) {
    throw new SpeechError('CONFIG_INVALID', `invalid environment; fix these and restart:\n  - ${problems.join('\n  - ')}`);
  }
  return options;
}
