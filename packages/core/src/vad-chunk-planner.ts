/**
 * Turns a stream of per-window speech probabilities into the chunk boundaries the
 * long-audio chunker sends to a backend. Pure and synchronous: no audio, no detector.
 *
 * Detection follows the Python talkies (`vad.py`, reference section 4.4): a window is speech
 * when its probability is at least `threshold`; a speech window opens a region at its
 * start; `minSilenceWindows` non-speech windows in a row close it at the start of its last
 * speech window; a region still open at the end runs to the end of the last window; each
 * region gets `speechPad` samples on both sides, clipped to the audio. Regions are then
 * merged greedily while the merged span stays within the cap.
 *
 * Better than the Python talkies, whose merged chunks can exceed the cap:
 * - a padded region longer than the cap is re-split, recursively, at its longest internal
 *   run of non-speech windows (even one shorter than the minimum silence), the two sides
 *   each padded into the gap but never past its middle; a piece with no such run is cut
 *   hard at the cap, so no chunk is ever longer than the cap;
 * - padding never makes neighbouring chunks overlap (both sides stop at the gap's middle);
 * - everything happens as windows arrive: a chunk is final as soon as nothing later can
 *   join it, so the caller can transcribe it while the rest of the file is still decoding.
 *   A region that goes on without a pause for more than {@link HOLD_CAP_MULTIPLE} caps is
 *   split on what has been seen so far (its last piece stays open), which bounds memory.
 */
import { SpeechError } from './speech-error.js';
import type { LongAudioOptions } from './long-audio-options.js';
import { VAD_SAMPLE_RATE, VAD_WINDOW_SAMPLES } from './vad-speech-detector.js';

/** A span of the source timeline in samples: `[start, end)`. */
export interface SampleSpan {
  start: number;
  end: number;
}

/**
 * An open speech region longer than this many caps, with no pause long enough to close
 * it, is split on the audio seen so far instead of on the whole region.
 */
export const HOLD_CAP_MULTIPLE = 4;

interface Region {
  /** First speech window's start (unpadded); after a split of the open region, the open piece's start. */
  start: number;
  /** Where the chunk may begin: `start` minus the padding, clipped (or a split point). */
  paddedStart: number;
  /** Internal non-speech runs, `[first non-speech sample, next speech sample)`, in order. */
  runs: SampleSpan[];
}

interface ClosedRegion extends Region {
  /** Start of the last speech window (the Python talkies' region end). */
  end: number;
}

/** Checks options given in code; `parseLongAudioEnvironment` already checks the environment. */
export function checkLongAudioOptions(options: LongAudioOptions): void {
  const problems: string[] = [];
  if (!(options.thresholdSeconds >= 0)) problems.push(`thresholdSeconds must be 0 or more, got ${options.thresholdSeconds}`);
  if (!(options.maxSpeechSeconds > 0) || !Number.isFinite(options.maxSpeechSeconds)) {
    problems.push(`maxSpeechSeconds must be a finite number above 0, got ${options.maxSpeechSeconds}`);
  }
  if (!(options.threshold > 0 && options.threshold <= 1)) problems.push(`threshold must be above 0 and at most 1, got ${options.threshold}`);
  if (!(options.minSilenceMs >= 0) || !Number.isFinite(options.minSilenceMs)) problems.push(`minSilenceMs must be 0 or more, got ${options.minSilenceMs}`);
  if (!(options.speechPadMs >= 0) || !Number.isFinite(options.speechPadMs)) problems.push(`speechPadMs must be 0 or more, got ${options.speechPadMs}`);
  if (problems.length > 0) throw new SpeechError('CONFIG_INVALID', `invalid long-audio options: ${problems.join('; ')}`);
}

/**
 * Splits a padded span into pieces no longer than `cap`: at the longest run in `runs`
 * (ties: the one nearest the middle), recursively, else hard at the cap. Pieces are
 * appended to `out` in order; empty pieces are dropped.
 */
export function splitSpan(span: SampleSpan, runs: readonly SampleSpan[], cap: number, pad: number, out: SampleSpan[]): void {
  let { start, end } = span;
  let remaining = runs;
  // Hard cuts loop instead of recursing: a long stretch without any pause is many caps long.
  for (;;) {
    if (end - start <= cap) {
      if (end > start) out.push({ start, end });
      return;
    }
    let best = -1;
    let bestLength = 0;
    let bestDistance = Infinity;
    const middle = (start + end) / 2;
    for (let index = 0; index < remaining.length; index++) {
      const run = remaining[index]!;
      const length = run.end - run.start;
      const distance = Math.abs((run.start + run.end) / 2 - middle);
      if (length > bestLength || (length === bestLength && distance < bestDistance)) {
        best = index;
        bestLength = length;
        bestDistance = distance;
      }
    }
    if (best < 0) {
      out.push({ start, end: start + cap });
      start += cap;
      continue;
    }
    const run = remaining[best]!;
    const cut = Math.floor((run.start + run.end) / 2);
    splitSpan({ start, end: Math.min(run.start + pad, cut) }, remaining.slice(0, best), cap, pad, out);
    start = Math.max(run.end - pad, cut);
    remaining = remaining.slice(best + 1);
  }
}

export class VadChunkPlanner {
  readonly #threshold: number;
  readonly #minSilenceWindows: number;
  readonly #pad: number;
  readonly #cap: number;
  readonly #holdLimit: number;
  #windows = 0;
  #open: Region | undefined;
  #silentWindows = 0;
  #closed: ClosedRegion | undefined;
  #group: SampleSpan | undefined;
  #ready: SampleSpan[] = [];
  #finished = false;

  constructor(options: LongAudioOptions) {
    checkLongAudioOptions(options);
    this.#threshold = options.threshold;
    this.#minSilenceWindows = Math.max(1, Math.floor((options.minSilenceMs * VAD_SAMPLE_RATE) / (1000 * VAD_WINDOW_SAMPLES)));
    this.#pad = Math.floor((options.speechPadMs * VAD_SAMPLE_RATE) / 1000);
    this.#cap = Math.max(1, Math.floor(options.maxSpeechSeconds * VAD_SAMPLE_RATE));
    this.#holdLimit = HOLD_CAP_MULTIPLE * this.#cap;
  }

  /** Longest chunk in samples. */
  get cap(): number {
    return this.#cap;
  }

  /** Windows consumed so far; the next {@link push} is about window `windows`. */
  get windows(): number {
    return this.#windows;
  }

  /**
   * The first source sample a future chunk can contain: audio before it may be released.
   * Never decreases.
   */
  get retainFrom(): number {
    let from = Math.max(0, this.#windows * VAD_WINDOW_SAMPLES - this.#pad);
    if (this.#open) from = Math.min(from, this.#open.paddedStart);
    if (this.#closed) from = Math.min(from, this.#closed.paddedStart);
    if (this.#group) from = Math.min(from, this.#group.start);
    return from;
  }

  /** Takes the chunks that became final since the last call, in order. */
  takeChunks(): SampleSpan[] {
    const ready = this.#ready;
    this.#ready = [];
    return ready;
  }

  /** Consumes the speech probability of the next window. */
  push(probability: number): void {
    if (this.#finished) throw new Error('VadChunkPlanner.push after finish');
    const index = this.#windows++;
    const windowStart = index * VAD_WINDOW_SAMPLES;
    if (probability >= this.#threshold) {
      if (!this.#open) {
        let paddedStart = Math.max(0, windowStart - this.#pad);
        if (this.#closed) paddedStart = this.#finishClosed(windowStart);
        this.#open = { start: windowStart, paddedStart, runs: [] };
      } else if (this.#silentWindows > 0) {
        this.#open.runs.push({ start: windowStart - this.#silentWindows * VAD_WINDOW_SAMPLES, end: windowStart });
      }
      this.#silentWindows = 0;
    } else if (this.#open) {
      this.#silentWindows++;
      if (this.#silentWindows >= this.#minSilenceWindows) {
        // The Python talkies' `i*512 - run*512`: the start of the last speech window.
        this.#closed = { ...this.#open, end: windowStart - this.#silentWindows * VAD_WINDOW_SAMPLES };
        this.#open = undefined;
        this.#silentWindows = 0;
      }
    }
    const position = this.#windows * VAD_WINDOW_SAMPLES;
    // No later region can start close enough for the paddings to meet: the end is final.
    if (this.#closed && position >= this.#closed.end + 2 * this.#pad) this.#finishClosed(undefined);
    if (this.#open && position - this.#open.paddedStart > this.#holdLimit) this.#splitOpen(position);
    this.#flushUnreachableGroup();
  }

  /**
   * Ends the stream. `totalSamples` is the source length; the windows pushed must cover
   * it (the last one zero-padded), or be none at all for audio shorter than one window.
   */
  finish(totalSamples: number): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#open) {
      this.#closed = { ...this.#open, end: this.#windows * VAD_WINDOW_SAMPLES };
      this.#open = undefined;
    }
    if (this.#closed) this.#finishClosed(undefined, totalSamples);
    if (this.#group) this.#ready.push(this.#group);
    this.#group = undefined;
  }

  /**
   * Fixes the closed region's padded end and hands its pieces to the merger. With the
   * next region's start known and the paddings overlapping, both stop at the gap's middle;
   * returns the next region's padded start.
   */
  #finishClosed(nextStart: number | undefined, totalSamples = Infinity): number {
    const region = this.#closed!;
    this.#closed = undefined;
    let end = Math.min(region.end + this.#pad, totalSamples);
    let nextPaddedStart = nextStart === undefined ? 0 : Math.max(0, nextStart - this.#pad);
    if (nextStart !== undefined && nextStart - this.#pad < region.end + this.#pad) {
      const middle = Math.floor((region.end + nextStart) / 2);
      end = Math.min(end, middle);
      nextPaddedStart = Math.max(nextPaddedStart, middle);
    }
    this.#addPieces({ start: region.paddedStart, end }, region.runs);
    return nextPaddedStart;
  }

  /** Splits an over-long open region on what has been seen; the last piece stays open. */
  #splitOpen(position: number): void {
    const region = this.#open!;
    const pieces: SampleSpan[] = [];
    splitSpan({ start: region.paddedStart, end: position }, region.runs, this.#cap, this.#pad, pieces);
    const last = pieces.pop();
    if (!last) return;
    for (const piece of pieces) this.#merge(piece);
    region.start = Math.max(region.start, last.start);
    region.paddedStart = last.start;
    region.runs = region.runs.filter((run) => run.start >= last.start);
  }

  #addPieces(span: SampleSpan, runs: readonly SampleSpan[]): void {
    const pieces: SampleSpan[] = [];
    splitSpan(span, runs, this.#cap, this.#pad, pieces);
    for (const piece of pieces) this.#merge(piece);
  }

  /** Greedy merge: extend the current group while its span stays within the cap. */
  #merge(piece: SampleSpan): void {
    if (this.#group && piece.end - this.#group.start <= this.#cap) {
      this.#group.end = piece.end;
      return;
    }
    if (this.#group) this.#ready.push(this.#group);
    this.#group = { ...piece };
  }

  /** Emits the current group once no later piece could be merged into it. */
  #flushUnreachableGroup(): void {
    if (!this.#group) return;
    // A later (non-empty) piece ends after the start of the region it comes from, and a
    // region not yet seen starts no earlier than the next window.
    const earliestEnd = (this.#closed?.start ?? this.#open?.start ?? this.#windows * VAD_WINDOW_SAMPLES) + 1;
    if (earliestEnd - this.#group.start > this.#cap) {
      this.#ready.push(this.#group);
      this.#group = undefined;
    }
  }
}
