/**
 * From decoded transducer tokens to the Whisper-shaped result: text, words with times and
 * confidences, and segments cut at sentence ends.
 *
 * - A token starts at `frame × frameSeconds` and ends at `min(frames, frame + max(1, duration)) × frameSeconds`
 *   (parakeet.js' rule), rounded to milliseconds.
 * - A word starts at a token that begins with `▁`; it spans its tokens, and its confidence is
 *   the lowest of theirs (NeMo's `min` aggregation).
 * - A segment ends after a word that ends a sentence (`.`, `?`, `!`, `…`, `。`); its
 *   `avg_logprob` is the mean log-probability of its tokens.
 */
import type { TranscriptionResult, TranscriptionSegment, TranscriptionWord } from '@talkies/core';
import type { TdtToken } from './tdt-decoder.js';
import { SPACE_MARK, type NemoVocabulary } from './nemo-vocabulary.js';

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;
const SENTENCE_END = /[.?!…。？！]["'»”)]*$/;

export interface TimedToken extends TdtToken {
  start: number;
  end: number;
}

export function timeTokens(tokens: readonly TdtToken[], frames: number, frameSeconds: number): TimedToken[] {
  return tokens.map((token) => ({
    ...token,
    start: round(token.frame * frameSeconds),
    end: round(Math.min(frames, token.frame + Math.max(1, token.duration)) * frameSeconds),
  }));
}

export function transducerResult(
  tokens: readonly TimedToken[],
  vocabulary: NemoVocabulary,
  options: { language?: string; timestamps: boolean },
): TranscriptionResult {
  const spoken = tokens.filter((token) => !vocabulary.isSpecial(token.id));
  const text = vocabulary.decode(spoken.map((token) => token.id));
  const result: TranscriptionResult = { text, segments: [], words: [] };
  if (options.language) result.language = options.language;
  if (!options.timestamps || spoken.length === 0) {
    if (spoken.length > 0) {
      result.segments.push(segment(0, spoken, vocabulary));
    }
    return result;
  }
  const groups: TimedToken[][] = [];
  for (const token of spoken) {
    if (groups.length === 0 || (vocabulary.pieces[token.id] ?? '').startsWith(SPACE_MARK)) groups.push([token]);
    else groups.at(-1)!.push(token);
  }
  let sentence: TimedToken[] = [];
  for (const group of groups) {
    const word = vocabulary.decode(group.map((token) => token.id));
    if (word !== '') {
      const timed: TranscriptionWord = {
        word,
        start: group[0]!.start,
        end: Math.max(group[0]!.start, group.at(-1)!.end),
        confidence: round(Math.min(...group.map((token) => token.confidence))),
      };
      result.words.push(timed);
    }
    sentence.push(...group);
    if (SENTENCE_END.test(word)) {
      result.segments.push(segment(result.segments.length, sentence, vocabulary));
      sentence = [];
    }
  }
  if (sentence.length > 0) result.segments.push(segment(result.segments.length, sentence, vocabulary));
  return result;
}

function segment(id: number, tokens: readonly TimedToken[], vocabulary: NemoVocabulary): TranscriptionSegment {
  const logprob = tokens.reduce((total, token) => total + token.logprob, 0) / tokens.length;
  return {
    id,
    seek: 0,
    start: tokens[0]!.start,
    end: Math.max(tokens[0]!.start, tokens.at(-1)!.end),
    text: ' ' + vocabulary.decode(tokens.map((token) => token.id)),
    tokens: tokens.map((token) => token.id),
    temperature: 0,
    avg_logprob: logprob,
    compression_ratio: null,
    no_speech_prob: null,
  };
}
