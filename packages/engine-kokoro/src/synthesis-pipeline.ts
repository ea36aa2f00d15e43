/**
 * Text → audio blocks: sentences → phonemes (espeak-ng) → token pieces of at most 510
 * → model calls → blocks with join fades. Imported by the backend in load().
 *
 * Work is overlapped so a stream has no gaps: while piece k is synthesised, the sentence
 * after it is phonemised and piece k+1 is already queued in the inference worker. When
 * the consumer leaves early or the request aborts, both are cancelled.
 */
import { SpeechError, type SpeechAudio } from '@talkies/core';
import { fadeJoins } from './join-audio.js';
import { KOKORO_SAMPLE_RATE, type KokoroRuntime } from './kokoro-runtime.js';
import type { KokoroLanguage } from './languages.js';
import { phonemesToIds, splitTokens } from './phoneme-tokens.js';
import { phonemize, type PhonemizeFunction } from './phonemizer.js';
import { splitSentences } from './sentence-splitter.js';

export { blendTables } from './voice-blend.js';

/** One model call's worth of phoneme ids, and where it sits in the whole text. */
export interface TokenPiece {
  ids: number[];
  /** The sentence it comes from. */
  sentence: string;
  /** The sentence's phonemes (all of them, when the sentence was cut into pieces). */
  phonemes: string;
  /** No piece comes before it. */
  first: boolean;
  /** It ends the last sentence of the text. */
  last: boolean;
}

export interface PieceSource {
  text: string;
  language: KokoroLanguage;
  runtime: Pick<KokoroRuntime, 'vocabulary' | 'boundaries'> & { espeak?: { phonemize: PhonemizeFunction } };
  signal: AbortSignal;
}

/**
 * The text's token pieces in order, phonemising one sentence ahead. Throws a 400 when
 * nothing in the text can be pronounced (emoji only, say).
 */
export async function* tokenPieces(source: PieceSource): AsyncGenerator<TokenPiece, void, undefined> {
  const sentences = splitSentences(source.text);
  const phonemesOf = (index: number) => {
    const promise = phonemize(sentences[index]!, source.language, source.signal, source.runtime.espeak?.phonemize);
    promise.catch(() => {});
    return promise;
  };
  let upcoming = sentences.length > 0 ? phonemesOf(0) : undefined;
  let produced = 0;
  for (let index = 0; index < sentences.length; index++) {
    const phonemes = await upcoming!;
    upcoming = index + 1 < sentences.length ? phonemesOf(index + 1) : undefined;
    const pieces = splitTokens(phonemesToIds(phonemes, source.runtime.vocabulary), source.runtime.boundaries);
    for (let piece = 0; piece < pieces.length; piece++) {
      yield {
        ids: pieces[piece]!,
        sentence: sentences[index]!,
        phonemes,
        first: produced === 0,
        last: index === sentences.length - 1 && piece === pieces.length - 1,
      };
      produced++;
    }
  }
  if (produced === 0) {
    throw new SpeechError('INVALID_REQUEST', 'input has nothing Kokoro can pronounce (no letters or digits in a language it speaks)', { param: 'input' });
  }
}

export interface SynthesisRequest extends PieceSource {
  runtime: KokoroRuntime;
  /** The blended style table. */
  table: Float32Array;
  speed: number;
  modelId: string;
}

/** What to feed the model's `speed` and how much to stretch its output afterwards. */
export function speedPlan(speed: number, speedType: KokoroRuntime['speedType']): { modelSpeed: number; stretch: number } {
  if (speedType === 'float32') return { modelSpeed: speed, stretch: 1 };
  // An integer input would truncate 1.5 to 1: give it whole speeds only.
  return Number.isInteger(speed) ? { modelSpeed: speed, stretch: 1 } : { modelSpeed: 1, stretch: speed };
}

async function synthesizePiece(request: SynthesisRequest, piece: TokenPiece, signal: AbortSignal): Promise<Float32Array> {
  const { modelSpeed, stretch } = speedPlan(request.speed, request.runtime.speedType);
  let samples = await request.runtime.run(piece.ids, request.table, modelSpeed, signal);
  if (stretch !== 1) {
    const { changeTempo } = await import('@talkies/audio');
    samples = (await changeTempo({ samples, sampleRate: KOKORO_SAMPLE_RATE }, stretch, { signal })).samples;
  }
  return fadeJoins(samples, KOKORO_SAMPLE_RATE, !piece.first, !piece.last);
}

/** The audio blocks of a whole text, one per model call. */
export async function* synthesizePieces(request: SynthesisRequest): AsyncGenerator<SpeechAudio, void, undefined> {
  // Our own signal too, so that leaving the loop early cancels the work queued ahead.
  const controller = new AbortController();
  const signal = AbortSignal.any([request.signal, controller.signal]);
  const pieces = tokenPieces({ ...request, signal });
  const advance = async () => {
    const next = await pieces.next();
    if (next.done) return undefined;
    const audio = synthesizePiece(request, next.value, signal);
    audio.catch(() => {});
    return audio;
  };
  try {
    let current = await advance();
    while (current !== undefined) {
      const following = advance();
      following.catch(() => {});
      const samples = await current;
      if (request.signal.aborted) throw new SpeechError('ABORTED', 'synthesis was stopped because the request was aborted');
      yield { samples, sampleRate: KOKORO_SAMPLE_RATE };
      current = await following;
    }
  } finally {
    controller.abort();
    void pieces.return(undefined).catch(() => {});
  }
}
