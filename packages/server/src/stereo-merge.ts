/**
 * Stereo "diarization": each channel transcribed on its own, merged on one timeline.
 * Segments sort by start time (left first on ties) and are renumbered; every segment
 * and word carries its channel label; the text becomes one line per turn.
 */
import type { TranscriptionResult, TranscriptionSegment, TranscriptionWord } from '@talkies/core';

export interface SpeakerLabels {
  left: string;
  right: string;
}

export const DEFAULT_LABELS: SpeakerLabels = { left: 'L', right: 'R' };

/** Parse `left=Agent,right=Caller` (either part optional). Throws on anything else. */
export function parseSpeakerLabels(value: string | undefined): SpeakerLabels | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const labels = { ...DEFAULT_LABELS };
  for (const part of value.split(',')) {
    const match = /^\s*(left|right)\s*=\s*([^,=]+?)\s*$/i.exec(part);
    if (!match) {
      throw new Error(`speaker_labels '${value}' is not like 'left=Agent,right=Caller'`);
    }
    labels[match[1]!.toLowerCase() as keyof SpeakerLabels] = match[2]!;
  }
  return labels;
}

export function mergeChannels(
  left: TranscriptionResult,
  right: TranscriptionResult,
  labels: SpeakerLabels = DEFAULT_LABELS,
): TranscriptionResult {
  const rank = (channel: string) => (channel === labels.left ? 0 : 1);
  const byTime = <T extends { start: number; channel?: string }>(a: T, b: T) =>
    a.start - b.start || rank(a.channel!) - rank(b.channel!);
  const segments: TranscriptionSegment[] = [
    ...left.segments.map((segment) => ({ ...segment, channel: labels.left })),
    ...right.segments.map((segment) => ({ ...segment, channel: labels.right })),
  ]
    .sort(byTime)
    .map((segment, id) => ({ ...segment, id }));
  const words: TranscriptionWord[] = [
    ...left.words.map((word) => ({ ...word, channel: labels.left })),
    ...right.words.map((word) => ({ ...word, channel: labels.right })),
  ].sort(byTime);

  const lines: string[] = [];
  let current: { channel: string; parts: string[] } | undefined;
  for (const segment of segments) {
    const text = segment.text.trim();
    if (text === '') continue;
    if (current && current.channel === segment.channel) {
      current.parts.push(text);
    } else {
      if (current) lines.push(`${current.channel}: ${current.parts.join(' ')}`);
      current = { channel: segment.channel!, parts: [text] };
    }
  }
  if (current) lines.push(`${current.channel}: ${current.parts.join(' ')}`);
  if (segments.length === 0) {
    // Engines without timestamps: one line per channel that said anything.
    if (left.text.trim()) lines.push(`${labels.left}: ${left.text.trim()}`);
    if (right.text.trim()) lines.push(`${labels.right}: ${right.text.trim()}`);
  }
  const durations = [left.duration, right.duration].filter((value): value is number => value !== undefined);
  return {
    text: lines.join('\n'),
    language: left.language ?? right.language,
    duration: durations.length > 0 ? Math.max(...durations) : undefined,
    segments,
    words,
  };
}
