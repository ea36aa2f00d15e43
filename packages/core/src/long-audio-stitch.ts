/**
 * Joins the results of the chunks of one long recording into one Whisper-shape result on
 * the source timeline, as the Python talkies' `stitch_results` does, and a little stricter.
 */
import type { TranscriptionResult, TranscriptionSegment, TranscriptionWord } from './transcription-result.js';

/** One chunk's result and where the chunk lies on the source timeline, in seconds. */
export interface ChunkTranscription {
  start: number;
  end: number;
  result: TranscriptionResult;
}

/** Whisper counts `seek` in 10 ms mel frames. */
const SEEK_FRAMES_PER_SECOND = 100;

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/**
 * - text: the trimmed texts of the chunks that have any, joined with one space;
 * - segments and words: shifted by their chunk's start, clamped into the chunk (so into
 *   `[0, duration]` too: engines sometimes end a segment past the audio they were given),
 *   entries without a start or end dropped, segment ids renumbered 0..N-1 in order,
 *   Whisper's `seek` shifted with the times;
 * - language: `language` if given, else the first chunk's that has text, else any chunk's;
 * - warnings: each distinct one once;
 * - duration: the source duration.
 */
export function stitchLongAudio(parts: readonly ChunkTranscription[], duration: number, language?: string): TranscriptionResult & { duration: number } {
  const texts: string[] = [];
  const segments: TranscriptionSegment[] = [];
  const words: TranscriptionWord[] = [];
  const warnings = new Set<string>();
  let detected: string | undefined;
  for (const { start, end, result } of parts) {
    const text = result.text.trim();
    if (text !== '') {
      texts.push(text);
      detected ??= result.language;
    }
    const low = clamp(start, 0, duration);
    const high = clamp(end, low, duration);
    const shift = (time: number) => clamp(time + start, low, high);
    for (const segment of result.segments) {
      if (!isTime(segment.start) || !isTime(segment.end)) continue;
      const shifted: TranscriptionSegment = { ...segment, id: segments.length, start: shift(segment.start), end: shift(Math.max(segment.start, segment.end)) };
      if (isTime(segment.seek)) shifted.seek = segment.seek + Math.round(start * SEEK_FRAMES_PER_SECOND);
      segments.push(shifted);
    }
    for (const word of result.words) {
      if (!isTime(word.start) || !isTime(word.end)) continue;
      words.push({ ...word, start: shift(word.start), end: shift(Math.max(word.start, word.end)) });
    }
    for (const warning of result.warnings ?? []) warnings.add(warning);
  }
  const stitched: TranscriptionResult & { duration: number } = { text: texts.join(' '), duration, segments, words };
  const resultLanguage = language ?? detected ?? parts.find((part) => part.result.language)?.result.language;
  if (resultLanguage !== undefined) stitched.language = resultLanguage;
  if (warnings.size > 0) stitched.warnings = [...warnings];
  return stitched;
}
