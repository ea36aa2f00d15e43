/**
 * Long audio for backends that cannot take it whole: voice activity detection cuts the
 * stream into speech chunks of at most `maxSpeechSeconds`, each chunk is transcribed as
 * soon as it is final, and the results are stitched onto the source timeline.
 *
 * Streaming all the way: audio is consumed block by block, the detector runs as it
 * arrives, and only the audio a future chunk can still contain is kept (a few caps at
 * most, never the file). While the backend transcribes one chunk the chunker cuts the
 * next; it then waits, so a slow backend slows the decoding instead of filling memory.
 */
import { DEFAULT_LONG_AUDIO_OPTIONS, type LongAudioOptions } from './long-audio-options.js';
import { stitchLongAudio, type ChunkTranscription } from './long-audio-stitch.js';
import { handOverAudio } from './handed-over-audio.js';
import { SpeechError } from './speech-error.js';
import type { AsrBackend, TranscribeRequest } from './backend.js';
import type { TranscriptionResult } from './transcription-result.js';
import { checkLongAudioOptions, VadChunkPlanner } from './vad-chunk-planner.js';
import { VAD_SAMPLE_RATE, VAD_WINDOW_SAMPLES, type SpeechDetector, type SpeechDetectorStream } from './vad-speech-detector.js';

/** 16 kHz mono float32 audio: one array, or blocks of it in order (what `decodeAudioStream` yields). */
export type LongAudioSource = Float32Array | Iterable<Float32Array> | AsyncIterable<Float32Array>;

/** A piece of the source sent to the backend on its own. */
export interface AudioChunk {
  /** The chunk's first sample on the source timeline (16 kHz). */
  start: number;
  /** The chunk's samples, 16 kHz mono. */
  audio: Float32Array;
}

/** What {@link VadChunker.chunks} returns when it is done. */
export interface ChunkingSummary {
  /** Length of the source in samples. */
  totalSamples: number;
  /** False when the source was at most `thresholdSeconds` long and went out as one chunk. */
  chunked: boolean;
}

/** What {@link VadChunker.transcribe} forwards to the backend with each chunk. */
export type LongAudioRequest = Omit<TranscribeRequest, 'audio' | 'sampleRate'>;

/** Where a chunk lies on the source timeline, in seconds: what stitching needs once its audio is gone. */
type ChunkSpan = { start: number; end: number };

/**
 * The span of a chunk about to be handed to a backend: its audio (made by {@link
 * VadChunker.chunks}, held by no one else) is handed over with it, so a worker backend may
 * take its buffer instead of copying it, after which the array reads as empty here.
 */
function spanOf(chunk: AudioChunk): ChunkSpan {
  return { start: chunk.start / VAD_SAMPLE_RATE, end: (chunk.start + chunk.audio.length) / VAD_SAMPLE_RATE };
}

/** Windows per detector call: bounds the time between abort checks and the probability array. */
const WINDOWS_PER_CALL = 256;

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SpeechError('ABORTED', 'the request was cancelled');
}

/** Samples appended at a time: a whole recording passed as one array is still retained only in part. */
const MAX_BLOCK = 1 << 16;

/** Largest first window of retained audio, in samples (16 MiB, 262 s). */
const MAX_INITIAL_RETAINED = 1 << 22;

async function* blocks(source: LongAudioSource): AsyncGenerator<Float32Array, void, undefined> {
  for await (const block of ArrayBuffer.isView(source) ? [source] : source) {
    for (let offset = 0; offset < block.length; offset += MAX_BLOCK) yield block.subarray(offset, offset + MAX_BLOCK);
  }
}

/** The audio a future chunk may still need, as one growable window onto the source timeline. */
class RetainedAudio {
  #data: Float32Array;
  /** Index in #data of source sample #start. */
  #offset = 0;
  #start = 0;
  #length = 0;

  /**
   * @param capacity Samples held before the first growth. Pages of a fresh buffer are only
   *   committed as they are written, so a short recording costs no more than its length.
   */
  constructor(capacity: number) {
    this.#data = new Float32Array(capacity);
  }

  append(block: Float32Array): void {
    if (this.#offset + this.#length + block.length > this.#data.length) {
      const needed = this.#length + block.length;
      if (needed <= this.#data.length / 2) {
        this.#data.copyWithin(0, this.#offset, this.#offset + this.#length);
      } else {
        const grown = new Float32Array(Math.max(needed, 2 * this.#data.length));
        grown.set(this.#data.subarray(this.#offset, this.#offset + this.#length));
        this.#data = grown;
      }
      this.#offset = 0;
    }
    this.#data.set(block, this.#offset + this.#length);
    this.#length += block.length;
  }

  /** A view of source samples `[from, to)`; valid until the next append. */
  view(from: number, to: number): Float32Array {
    if (from < this.#start || to > this.#start + this.#length) throw new Error(`samples ${from}..${to} are no longer retained`);
    return this.#data.subarray(this.#offset + from - this.#start, this.#offset + to - this.#start);
  }

  /** Every retained sample, without a copy; the window holds nothing after this. */
  takeAll(): Float32Array {
    const all = this.#data.subarray(this.#offset, this.#offset + this.#length);
    this.#data = new Float32Array(0);
    this.#start += this.#length;
    this.#offset = 0;
    this.#length = 0;
    return all;
  }

  /** Drops every sample before `sample`. */
  release(sample: number): void {
    const count = Math.min(Math.max(0, sample - this.#start), this.#length);
    this.#offset += count;
    this.#start += count;
    this.#length -= count;
  }
}

export class VadChunker {
  readonly options: Readonly<LongAudioOptions>;
  readonly #createDetector: () => Promise<SpeechDetector>;
  #detector: Promise<SpeechDetector> | undefined;

  /**
   * @param detector The detector, or a function that loads it: it is called once, when the
   *   first source longer than `thresholdSeconds` arrives (so short audio never loads it).
   *   A failed load is retried on the next long source.
   */
  constructor(detector: SpeechDetector | (() => Promise<SpeechDetector>), options: LongAudioOptions = DEFAULT_LONG_AUDIO_OPTIONS) {
    checkLongAudioOptions(options);
    this.options = Object.freeze({ ...options });
    this.#createDetector = typeof detector === 'function' ? detector : () => Promise.resolve(detector);
  }

  /**
   * Transcribes a source of any length with `backend`.
   *
   * - A backend whose `capabilities.longForm` is true gets the whole audio in one call.
   * - A source of at most `thresholdSeconds` goes to the backend whole.
   * - Otherwise each speech chunk goes to `backend.transcribe` in order, one call at a
   *   time, while the next chunk is being cut. A backend with `transcribeBatch` and a
   *   `capabilities.maxBatchSize` above 1 gets the chunks in groups of that size instead,
   *   one group at a time, while the next group is being cut. Without a `language` in the request, the
   *   language the first chunk with text reports is passed to the later chunks, so one
   *   recording does not switch languages between chunks. The results are stitched by
   *   {@link stitchLongAudio}; a source without speech gives an empty text and no segments.
   *
   * `duration` is always the source's length. Failures and aborts stop the reading of the
   * source, and nothing is left running on the backend when this settles.
   */
  async transcribe(backend: AsrBackend, audio: LongAudioSource, request: LongAudioRequest): Promise<TranscriptionResult & { duration: number }> {
    if (backend.capabilities.longForm) {
      const whole = await collect(audio, request.signal);
      // Read before: a backend in another thread may take the array's buffer with it.
      const duration = whole.length / VAD_SAMPLE_RATE;
      const result = await backend.transcribe({ ...request, audio: whole, sampleRate: VAD_SAMPLE_RATE });
      return { ...result, duration };
    }
    const batchSize = backend.transcribeBatch ? Math.floor(backend.capabilities.maxBatchSize ?? 1) : 1;
    if (batchSize > 1) return this.#transcribeBatched(backend, audio, request, batchSize);
    const chunks = this.chunks(audio, request.signal);
    const parts: ChunkTranscription[] = [];
    let language = request.language;
    let pending: { span: ChunkSpan; result: Promise<TranscriptionResult> } | undefined;
    const settle = async () => {
      if (!pending) return;
      const { span, result } = pending;
      pending = undefined;
      const transcription = await result;
      parts.push({ ...span, result: transcription });
      if (language === undefined && transcription.language && transcription.text.trim() !== '') language = transcription.language;
    };
    let summary: ChunkingSummary;
    try {
      for (;;) {
        const next = await chunks.next();
        await settle();
        if (next.done) {
          summary = next.value;
          break;
        }
        const span = spanOf(next.value);
        const result = backend.transcribe({ ...request, language, audio: handOverAudio(next.value.audio), sampleRate: VAD_SAMPLE_RATE });
        // Observed by settle(); this only keeps a failure from being "unhandled" while the next chunk is cut.
        result.catch(() => {});
        pending = { span, result };
      }
    } catch (error) {
      // The pool may dispose the backend once this call settles: let a running chunk finish first.
      await pending?.result.catch(() => {});
      await chunks.return(undefined as never).catch(() => {});
      throw error;
    }
    const duration = summary.totalSamples / VAD_SAMPLE_RATE;
    if (!summary.chunked) return { ...parts[0]!.result, duration };
    return stitchLongAudio(parts, duration, request.language);
  }

  /**
   * {@link transcribe} for a backend with {@link AsrBackend.transcribeBatch}: the chunks go
   * out in groups of `batchSize` while the next group is cut (at most one group waits, so
   * memory stays bounded by two groups). Until a language is known (none in the request,
   * no chunk with text yet) chunks go one at a time, as on the sequential path, so that
   * every later chunk is decoded in the same language. An engine that reports no language
   * for a chunk with text does not detect one: the chunks after it go in groups at once.
   */
  async #transcribeBatched(backend: AsrBackend, audio: LongAudioSource, request: LongAudioRequest, batchSize: number): Promise<TranscriptionResult & { duration: number }> {
    const chunks = this.chunks(audio, request.signal);
    const parts: ChunkTranscription[] = [];
    let language = request.language;
    const ready: AudioChunk[] = [];
    let running: { spans: ChunkSpan[]; results: Array<Promise<TranscriptionResult>> } | undefined;
    let summary: ChunkingSummary | undefined;
    // Settled once a chunk with text has come back: with the language it reports, or with
    // none from an engine that does not detect languages (then nothing waits for one).
    let languageSettled = language !== undefined;
    const wanted = () => (languageSettled ? batchSize : 1);
    const settle = async () => {
      if (!running) return;
      const { spans, results } = running;
      running = undefined;
      const settled = await Promise.allSettled(results);
      for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
      spans.forEach((span, index) => {
        const transcription = (settled[index] as PromiseFulfilledResult<TranscriptionResult>).value;
        parts.push({ ...span, result: transcription });
        if (!languageSettled && transcription.text.trim() !== '') {
          language = transcription.language || undefined;
          languageSettled = true;
        }
      });
    };
    try {
      for (;;) {
        // Cut ahead (while a group runs) up to one group.
        while (!summary && ready.length < wanted()) {
          const next = await chunks.next();
          if (next.done) summary = next.value;
          else ready.push(next.value);
        }
        if (running) {
          await settle();
          continue;
        }
        if (ready.length === 0) break;
        const group = ready.splice(0, wanted());
        const spans = group.map(spanOf);
        const results = backend.transcribeBatch!(group.map((chunk) => ({ ...request, language, audio: handOverAudio(chunk.audio), sampleRate: VAD_SAMPLE_RATE })));
        // Observed by settle(); this only keeps a failure from being "unhandled" while the next group is cut.
        for (const result of results) result.catch(() => {});
        running = { spans, results };
      }
    } catch (error) {
      // The pool may dispose the backend once this call settles: let a running group finish first.
      if (running) await Promise.allSettled(running.results);
      await chunks.return(undefined as never).catch(() => {});
      throw error;
    }
    const duration = summary!.totalSamples / VAD_SAMPLE_RATE;
    if (!summary!.chunked) return { ...parts[0]!.result, duration };
    return stitchLongAudio(parts, duration, request.language);
  }

  /**
   * The chunks of `audio`, each yielded as soon as it is final. A source of at most
   * `thresholdSeconds` comes out as one chunk and the detector is never loaded. Pulling
   * the next chunk is what reads more of the source: a consumer that waits holds the
   * reading. Closing the generator early closes the source iterator.
   */
  async *chunks(audio: LongAudioSource, signal?: AbortSignal): AsyncGenerator<AudioChunk, ChunkingSummary, undefined> {
    const thresholdSamples = this.options.thresholdSeconds * VAD_SAMPLE_RATE;
    // Room for a whole unchunked source (and the block that shows it is longer): up to the
    // threshold, the audio is copied once, as it arrives, and handed over as it is. (A
    // threshold set above a few minutes starts smaller and grows as before.)
    const retained = new RetainedAudio(Math.min(thresholdSamples + MAX_BLOCK, MAX_INITIAL_RETAINED));
    let total = 0;
    let planner: VadChunkPlanner | undefined;
    let stream: SpeechDetectorStream | undefined;
    aborted(signal);
    for await (const block of blocks(audio)) {
      aborted(signal);
      retained.append(block);
      total += block.length;
      if (!planner) {
        if (total <= thresholdSamples) continue;
        stream = (await this.#loadDetector()).createStream();
        planner = new VadChunkPlanner(this.options);
      }
      const end = total - (total % VAD_WINDOW_SAMPLES);
      while (planner.windows * VAD_WINDOW_SAMPLES < end) {
        const from = planner.windows * VAD_WINDOW_SAMPLES;
        const to = Math.min(end, from + WINDOWS_PER_CALL * VAD_WINDOW_SAMPLES);
        const probabilities = await stream!.process(retained.view(from, to));
        for (let index = 0; index < probabilities.length; index++) planner.push(probabilities[index]!);
        aborted(signal);
      }
      for (const span of planner.takeChunks()) yield { start: span.start, audio: retained.view(span.start, span.end).slice() };
      retained.release(planner.retainFrom);
    }
    if (!planner) {
      yield { start: 0, audio: retained.takeAll() };
      return { totalSamples: total, chunked: false };
    }
    const from = planner.windows * VAD_WINDOW_SAMPLES;
    // The talkies pads the audio with zeros to whole windows (audio under one window has none).
    if (from < total && total >= VAD_WINDOW_SAMPLES) {
      const last = new Float32Array(VAD_WINDOW_SAMPLES);
      last.set(retained.view(from, total));
      planner.push((await stream!.process(last))[0]!);
    }
    planner.finish(total);
    for (const span of planner.takeChunks()) yield { start: span.start, audio: retained.view(span.start, span.end).slice() };
    return { totalSamples: total, chunked: true };
  }

  /** The speech detector, loaded on the first call and shared with chunking (live transcription's server VAD uses it). */
  detector(): Promise<SpeechDetector> {
    return this.#loadDetector();
  }

  /** Releases the detector if it was loaded and can be released (the Silero one can). */
  async dispose(): Promise<void> {
    const detector = this.#detector;
    this.#detector = undefined;
    const loaded = await detector?.catch(() => undefined);
    await (loaded as { dispose?: () => Promise<void> } | undefined)?.dispose?.();
  }

  #loadDetector(): Promise<SpeechDetector> {
    if (!this.#detector) {
      const loading = this.#createDetector();
      this.#detector = loading;
      loading.catch(() => {
        if (this.#detector === loading) this.#detector = undefined;
      });
    }
    return this.#detector;
  }
}

async function collect(audio: LongAudioSource, signal: AbortSignal | undefined): Promise<Float32Array> {
  if (ArrayBuffer.isView(audio)) return audio;
  const parts: Float32Array[] = [];
  let length = 0;
  for await (const block of audio) {
    aborted(signal);
    parts.push(block);
    length += block.length;
  }
  if (parts.length === 1) return parts[0]!;
  const whole = new Float32Array(length);
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.length;
  }
  return whole;
}
