/**
 * Renders a {@link TranscriptionResult} in the response formats of OpenAI's transcription
 * API, formatted exactly as the Python talkies does (see ARCHITECTURE.md at the repository root).
 */
import type { TranscriptionResult, TranscriptionSegment } from './transcription-result.js';
import { SpeechError } from './speech-error.js';

export const TRANSCRIPTION_FORMATS = ['json', 'text', 'txt', 'verbose_json', 'srt', 'vtt'] as const;
export type TranscriptionFormat = (typeof TRANSCRIPTION_FORMATS)[number];

/** Lower-cases the value (empty means json); an unknown format is a 400 listing the valid ones. */
export function parseTranscriptionFormat(value: string | undefined): TranscriptionFormat {
  const format = (value ?? '').trim().toLowerCase() || 'json';
  if ((TRANSCRIPTION_FORMATS as readonly string[]).includes(format)) return format as TranscriptionFormat;
  throw new SpeechError(
    'INVALID_REQUEST',
    `unsupported response_format '${value}'; use one of: ${TRANSCRIPTION_FORMATS.join(', ')}`,
    { param: 'response_format' },
  );
}

/** Whether the format needs timestamps (so engines can skip the work otherwise). */
export function formatNeedsTimestamps(format: TranscriptionFormat): boolean {
  return format === 'verbose_json' || format === 'srt' || format === 'vtt';
}

export interface RenderContext {
  /** `transcribe` or `translate`. */
  task: 'transcribe' | 'translate';
  /** Fallback language when the result has none. */
  language?: string;
  /** Fallback duration (seconds, measured from the decoded audio). */
  duration?: number;
}

export interface RenderedTranscription {
  body: string;
  contentType: string;
}

/** Round half to even on exact .5, as Python's round() does. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff === 0.5) return floor % 2 === 0 ? floor : floor + 1;
  return Math.round(value);
}

/** `HH:MM:SS,mmm` (hours not capped). VTT uses the same with `.`. */
export function formatTimestamp(seconds: number, separator: ',' | '.' = ','): string {
  // A missing or broken time renders as zero rather than "NaN:NaN:NaN,NaN".
  const totalMs = Number.isFinite(seconds) ? Math.max(0, roundHalfEven(seconds * 1000)) : 0;
  const ms = totalMs % 1000;
  const totalSeconds = (totalMs - ms) / 1000;
  const s = totalSeconds % 60;
  const m = Math.floor(totalSeconds / 60) % 60;
  const h = Math.floor(totalSeconds / 3600);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms, 3)}`;
}

function cues(result: TranscriptionResult, context: RenderContext): { start: number; end: number; text: string }[] {
  if (result.segments.length === 0) {
    return [{ start: 0, end: result.duration ?? context.duration ?? 0, text: result.text.trim() }];
  }
  return result.segments.map((segment) => ({
    start: segment.start,
    end: segment.end,
    text: segment.channel ? `${segment.channel}: ${segment.text.trim()}` : segment.text.trim(),
  }));
}

function verboseSegment(segment: TranscriptionSegment): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: segment.id,
    seek: segment.seek ?? 0,
    start: segment.start,
    end: segment.end,
    text: segment.text,
    tokens: segment.tokens ?? [],
    temperature: segment.temperature ?? 0,
    avg_logprob: segment.avg_logprob ?? null,
    compression_ratio: segment.compression_ratio ?? null,
    no_speech_prob: segment.no_speech_prob ?? null,
  };
  if (segment.channel !== undefined) out.channel = segment.channel;
  return out;
}

/** The verbose_json object: always exactly task, language, duration, text, segments, words. */
export function toVerboseJson(result: TranscriptionResult, context: RenderContext): Record<string, unknown> {
  return {
    task: context.task,
    language: result.language || context.language || 'en',
    duration: result.duration ?? context.duration ?? 0,
    text: result.text,
    segments: result.segments.map(verboseSegment),
    words: result.words.map((word) => ({ ...word })),
  };
}

export function renderTranscription(
  result: TranscriptionResult,
  format: TranscriptionFormat,
  context: RenderContext,
): RenderedTranscription {
  switch (format) {
    case 'json':
      return { body: JSON.stringify({ text: result.text }), contentType: 'application/json' };
    case 'text':
    case 'txt':
      return { body: result.text, contentType: 'text/plain; charset=utf-8' };
    case 'verbose_json':
      return { body: JSON.stringify(toVerboseJson(result, context)), contentType: 'application/json' };
    case 'srt': {
      const blocks = cues(result, context).map(
        (cue, index) => `${index + 1}\n${formatTimestamp(cue.start)} --> ${formatTimestamp(cue.end)}\n${cue.text}\n`,
      );
      return { body: blocks.join('\n'), contentType: 'application/x-subrip' };
    }
    case 'vtt': {
      const blocks = cues(result, context).map(
        (cue) => `${formatTimestamp(cue.start, '.')} --> ${formatTimestamp(cue.end, '.')}\n${cue.text}\n`,
      );
      return { body: ['WEBVTT\n', ...blocks].join('\n'), contentType: 'text/vtt; charset=utf-8' };
    }
  }
}
