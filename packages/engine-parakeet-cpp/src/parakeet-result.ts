/**
 * Turning libparakeet's output into talkies results: the JSON documents are checked with
 * zod (a library is input too), language tags such as `<en-us>` are removed from the text
 * and the words, and segments are synthesised from the words.
 */
import { z } from 'zod';
import type { AsrStreamEvent, AsrStreamUpdate, TranscriptionResult, TranscriptionSegment, TranscriptionWord } from '@talkies/core';

/** A new segment starts where the silence between two words is longer than this (seconds). */
export const SEGMENT_GAP_SECONDS = 0.5;

const wordSchema = z.object({
  w: z.string(),
  start: z.number().finite().nonnegative(),
  end: z.number().finite().nonnegative(),
  conf: z.number().finite().optional(),
});

const documentSchema = z.object({
  text: z.string(),
  frame_sec: z.number().optional(),
  words: z.array(wordSchema).default([]),
});

const streamDocumentSchema = documentSchema.extend({
  eou: z.number().optional(),
  eob: z.number().optional(),
  events: z.array(z.object({ type: z.string(), frame: z.number().optional(), t: z.number().optional() })).optional(),
});

/** `<en-us>`, `<de>`, `<zh-cn>`: the language tags prompt-conditioned (Nemotron) models emit. */
const LANGUAGE_TAG = /<([a-z]{2,3})(?:[-_][a-z0-9]{2,8})*>/gi;

/** Removes language tags and tidies the spaces they leave. Returns the text and the first tag's language. */
export function stripLanguageTags(text: string): { text: string; language?: string } {
  let language: string | undefined;
  const stripped = text.replace(LANGUAGE_TAG, (_tag, primary: string) => {
    language ??= primary.toLowerCase();
    return ' ';
  });
  return { text: stripped.replace(/\s+/g, ' ').trim(), language };
}

function cleanWords(words: z.output<typeof wordSchema>[]): TranscriptionWord[] {
  const cleaned: TranscriptionWord[] = [];
  for (const word of words) {
    const text = stripLanguageTags(word.w).text;
    if (!text) continue;
    cleaned.push({
      word: text,
      start: word.start,
      end: Math.max(word.start, word.end),
      ...(word.conf === undefined ? {} : { confidence: Math.min(1, Math.max(0, word.conf)) }),
    });
  }
  return cleaned;
}

/** Segments from words: a new one after each pause longer than {@link SEGMENT_GAP_SECONDS}. */
export function segmentsFromWords(words: readonly TranscriptionWord[]): TranscriptionSegment[] {
  const segments: TranscriptionSegment[] = [];
  let current: TranscriptionWord[] = [];
  const flush = () => {
    if (current.length === 0) return;
    segments.push({
      id: segments.length,
      start: current[0]!.start,
      end: current[current.length - 1]!.end,
      text: current.map((word) => word.word).join(' '),
    });
    current = [];
  };
  for (const word of words) {
    const previous = current[current.length - 1];
    if (previous && word.start - previous.end > SEGMENT_GAP_SECONDS) flush();
    current.push(word);
  }
  flush();
  return segments;
}

function parseJson(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new Error(`libparakeet returned ${what} that is not JSON: ${(error as Error).message}`);
  }
}

/** One clip's result from `transcribe_pcm_batch_json[_lang]` (a JSON array of one document). */
export function resultFromBatchJson(raw: string, duration: number): TranscriptionResult & { detectedLanguage?: string } {
  const parsed = z.array(documentSchema).length(1).safeParse(parseJson(raw, 'a transcription'));
  if (!parsed.success) throw new Error(`libparakeet returned an unexpected transcription document: ${parsed.error.issues[0]?.message}`);
  const document = parsed.data[0]!;
  const { text, language } = stripLanguageTags(document.text);
  const words = cleanWords(document.words);
  return { text, duration, words, segments: segmentsFromWords(words), ...(language ? { detectedLanguage: language } : {}) };
}

/** A text-only result (the pinned-language path of libraries without a JSON variant). */
export function resultFromText(raw: string, duration: number): TranscriptionResult {
  return { text: stripLanguageTags(raw).text, duration, words: [], segments: [] };
}

/** A session update from `stream_feed_json` / `stream_finalize_json` (ABI 4+). */
export function updateFromStreamJson(raw: string, abi: number): AsrStreamUpdate {
  const parsed = streamDocumentSchema.safeParse(parseJson(raw, 'a stream update'));
  if (!parsed.success) throw new Error(`libparakeet returned an unexpected stream document: ${parsed.error.issues[0]?.message}`);
  const document = parsed.data;
  const events: AsrStreamEvent[] = [];
  if (document.events) {
    for (const event of document.events) {
      if (event.type !== 'eou' && event.type !== 'eob') continue;
      events.push({ type: event.type === 'eou' ? 'end-of-utterance' : 'backchannel', ...(event.t === undefined ? {} : { time: event.t }) });
    }
  } else {
    // ABI 4 has no "events": its "eou" is 1 for an end of utterance or of a backchannel.
    if (document.eou) events.push({ type: 'end-of-utterance' });
    if (abi >= 5 && document.eob) events.push({ type: 'backchannel' });
  }
  return { text: streamText(document.text), words: cleanWords(document.words), events };
}

/** A session update from the plain `stream_feed` (text and an event mask, no words). */
export function updateFromStreamText(raw: string, mask: number, abi: number): AsrStreamUpdate {
  const events: AsrStreamEvent[] = [];
  if (abi >= 5) {
    if (mask & 1) events.push({ type: 'end-of-utterance' });
    if (mask & 2) events.push({ type: 'backchannel' });
  } else if (mask !== 0) {
    events.push({ type: 'end-of-utterance' });
  }
  return { text: streamText(raw), words: [], events };
}

/** Stream text keeps its leading space (it continues the transcript) but loses its tags. */
function streamText(raw: string): string {
  if (!LANGUAGE_TAG.test(raw)) return raw;
  LANGUAGE_TAG.lastIndex = 0;
  const leading = /^\s/.test(raw) ? ' ' : '';
  const stripped = stripLanguageTags(raw).text;
  return stripped ? leading + stripped : '';
}
