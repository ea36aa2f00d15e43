/**
 * Live transcription: the one path through core that SSE `stream=true`, OpenAI realtime
 * over WebSocket and the Wyoming server all use.
 *
 * ```
 * write(Float32 blocks, any rate) ─► resample to 16 kHz ─► bounded input queue
 *   ─► segmentation: server VAD (Silero, utterances), manual commits, or the VAD chunker (files)
 *   ─► the engine, one call at a time, under a pool lease held while there is work for it:
 *        an engine streaming session (AsrBackend.openStream) while an utterance is spoken, or
 *        re-transcription of the growing utterance at a bounded rate, only new text sent
 *   ─► bounded event queue ─► `for await (const event of live)`
 * ```
 *
 * Backpressure end to end: the consumer reads events from a queue of `maxPendingEvents`;
 * when it stops reading the engine waits, then segmentation waits, then `write()` stops
 * resolving (and throws PAYLOAD_TOO_LARGE past twice `maxQueuedSeconds`, for a producer
 * that ignores it). Leaving the loop (`break`), `close()` or the signal aborts the work in
 * flight and releases the model lease.
 */
import type { AsrBackend, AsrStreamSession, TranscribeRequest } from './backend.js';
import { BoundedQueue } from './bounded-queue.js';
import type { EvictionPool, Lease, PoolModelHandle } from './eviction-pool.js';
import { stitchLongAudio, type ChunkTranscription } from './long-audio-stitch.js';
import { SpeechError } from './speech-error.js';
import { StreamResampler } from './stream-resampler.js';
import type { TranscriptionResult, TranscriptionWord } from './transcription-result.js';
import type { AudioChunk, ChunkingSummary, VadChunker } from './vad-chunker.js';
import { VAD_SAMPLE_RATE, VAD_WINDOW_SAMPLES, type SpeechDetectorStream } from './vad-speech-detector.js';

/** Server-side voice activity detection: utterances end after a pause (OpenAI's `server_vad`). */
export interface LiveVoiceSegmentation {
  type: 'server_vad';
  /** Silero speech probability at or above which a 32 ms window is speech (0.5). */
  threshold?: number;
  /** Audio kept before the first speech window, and after the last one (300 ms). */
  prefixPaddingMs?: number;
  /** Non-speech that ends an utterance (500 ms). */
  silenceDurationMs?: number;
}

/**
 * How the audio is cut into pieces for the engine.
 * - `server_vad`: utterances found live by Silero VAD, with speech started/stopped events;
 * - `manual`: one utterance per {@link LiveTranscription.commit} (and one at `end()`);
 * - `chunks`: a recording: the VAD chunker's pieces, exactly as a whole-file transcription
 *   cuts them (audio up to its threshold goes whole), each sent as soon as it is released.
 */
export type LiveSegmentation = LiveVoiceSegmentation | { type: 'manual' } | { type: 'chunks' };

export interface LiveTranscriptionOptions {
  /**
   * The pool and model to lease. Live segmentation holds the lease only while an utterance
   * is open or the engine has work (silence between utterances holds no model, so an idle
   * socket does not block other requests); `chunks` holds it for the whole recording.
   */
  pool?: EvictionPool;
  model?: string | PoolModelHandle<AsrBackend>;
  /** Or a backend the caller has already leased (then no lease is taken or released here). */
  backend?: AsrBackend;
  /** The VAD chunker: its Silero detector serves `server_vad`, its `chunks()` serve `chunks`. */
  chunker: VadChunker;
  /** Rate of the mono float32 blocks passed to `write()`; resampled to 16 kHz inside. */
  sampleRate: number;
  segmentation: LiveSegmentation;
  language?: string;
  prompt?: string;
  temperature?: number;
  task?: 'transcribe' | 'translate';
  /** Ask the engine for segment and word timestamps (needed for word confidences). */
  timestamps?: boolean;
  /**
   * Re-transcription partials: at most one every this many ms of new speech, only when the
   * engine is idle, and none while the engine's last pass was slower than real time (they
   * would only delay the final). Default 1000; 0 turns them off. Unused with an engine session.
   */
  partialIntervalMs?: number;
  /** Use `backend.openStream` when the backend offers a streaming session (default true). */
  engineStreaming?: boolean;
  /** An utterance is committed when it reaches this length (default: the chunker's max speech, 28 s). */
  maxUtteranceSeconds?: number;
  /** Audio written but not yet segmented, in seconds, before `write()` holds the writer (default 10). */
  maxQueuedSeconds?: number;
  /** Events not yet read before the engine waits (default 64). */
  maxPendingEvents?: number;
  /** Aborts the session (a client that went away). */
  signal?: AbortSignal;
}

/** Which path an utterance's text came from. */
export type LiveTextSource = 'engine-stream' | 'retranscription' | 'chunk';

/** What a live session yields, in order. Times are ms from the first sample written. */
export type LiveEvent =
  | { type: 'speech_started'; utterance: number; audioStartMs: number }
  | { type: 'speech_stopped'; utterance: number; audioEndMs: number }
  /** The utterance's audio is closed and goes to the engine. */
  | { type: 'committed'; utterance: number; audioStartMs: number; audioEndMs: number }
  /** `clear()` dropped the uncommitted audio. */
  | { type: 'cleared' }
  /**
   * New text of an utterance: append-only. Partials are provisional: the utterance's
   * `final` text is authoritative (a re-transcription may revise words already sent).
   */
  | { type: 'delta'; utterance: number; text: string; words: TranscriptionWord[]; source: LiveTextSource }
  | {
      type: 'final';
      utterance: number;
      text: string;
      audioStartMs: number;
      audioEndMs: number;
      /** The engine's result for the utterance (segments and words on the utterance's timeline). */
      result: TranscriptionResult;
      source: LiveTextSource;
    }
  /** The engine failed on one utterance; the session goes on. */
  | { type: 'failed'; utterance: number; error: SpeechError }
  /** An operation was refused (e.g. commit with an empty buffer); the session goes on. */
  | { type: 'rejected'; operation: 'commit'; error: SpeechError }
  /**
   * The end: every final has been sent. `seconds` is the audio received (usage); `result`
   * is the whole transcript (for `chunks`, stitched exactly as a whole-file transcription).
   */
  | { type: 'done'; text: string; seconds: number; result: TranscriptionResult & { duration: number } };

type Operation = { kind: 'audio'; samples: Float32Array } | { kind: 'commit' } | { kind: 'clear' } | { kind: 'end' };

/** The shortest manual commit, as OpenAI's (100 ms). */
const MIN_COMMIT_SAMPLES = VAD_SAMPLE_RATE / 10;
/** Windows sent to the detector per call. */
const WINDOWS_PER_CALL = 32;
/** Audio gathered before an engine session is fed (100 ms): fewer, larger calls. */
const FEED_SAMPLES = VAD_SAMPLE_RATE / 10;
/** Finals waiting for the engine before segmentation waits. */
const MAX_PENDING_FINALS = 2;

const ms = (samples: number) => Math.round((samples * 1000) / VAD_SAMPLE_RATE);

function asSpeechError(error: unknown): SpeechError {
  if (SpeechError.is(error)) return error as SpeechError;
  return new SpeechError('INFERENCE_FAILED', `transcription failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

const isStop = (error: unknown) => SpeechError.is(error) && ['ABORTED', 'SHUTTING_DOWN'].includes((error as SpeechError).code);

/** Growable mono 16 kHz buffer. */
class SampleBuffer {
  #data = new Float32Array(VAD_SAMPLE_RATE);
  length = 0;
  append(block: Float32Array): void {
    if (this.length + block.length > this.#data.length) {
      const grown = new Float32Array(Math.max(this.length + block.length, this.#data.length * 2));
      grown.set(this.#data.subarray(0, this.length));
      this.#data = grown;
    }
    this.#data.set(block, this.length);
    this.length += block.length;
  }
  view(from = 0, to = this.length): Float32Array {
    return this.#data.subarray(from, to);
  }
  /** Keeps only the last `count` samples. */
  keepLast(count: number): void {
    if (this.length <= count) return;
    this.#data.copyWithin(0, this.length - count, this.length);
    this.length = count;
  }
}

interface Utterance {
  index: number;
  /** First sample on the session timeline. */
  start: number;
  audio: SampleBuffer;
  /** Samples of `audio` already handed to the engine session. */
  fed: number;
  /** Samples of `audio` when the last partial started. */
  partialAt: number;
  session?: Promise<AsrStreamSession | undefined>;
  /** Text sent as deltas so far. */
  emitted: string;
  /** The previous re-transcription hypothesis. */
  hypothesis: string;
  dropped: boolean;
  /** Its audio is closed (committed or dropped): no more partials. */
  closed: boolean;
  /** Aborts the re-transcription partial in flight: the final must not wait behind it. */
  partial?: AbortController;
}

/** The longest prefix of `text` that `previous` agrees on, cut at a word boundary. */
export function agreedPrefix(previous: string, text: string): string {
  let length = 0;
  while (length < previous.length && length < text.length && previous[length] === text[length]) length++;
  // A word both hypotheses end at the same place is whole; otherwise the last word may still be growing.
  const boundary = (value: string) => length === value.length || /\s/.test(value[length]!);
  if (length > 0 && boundary(previous) && boundary(text)) return text.slice(0, length).trimEnd();
  const cut = text.lastIndexOf(' ', length);
  return cut <= 0 ? '' : text.slice(0, cut);
}

/**
 * One live transcription session. Create it with {@link openLiveTranscription}, write
 * audio, iterate its events; see the module comment for the flow and the bounds.
 */
export class LiveTranscription implements AsyncIterable<LiveEvent> {
  readonly #options: LiveTranscriptionOptions;
  readonly #events: BoundedQueue<LiveEvent>;
  readonly #abort = new AbortController();
  readonly #resampler: StreamResampler;
  readonly #operations: Operation[] = [];
  #queuedSamples = 0;
  readonly #maxQueued: number;
  #wakeReader: (() => void) | undefined;
  #wakeWriters: Array<() => void> = [];
  #ended = false;
  #closed = false;
  #receivedSamples = 0;
  readonly #finished: Promise<void>;
  // Engine lane: one backend call at a time, in order.
  #lane: Promise<void> = Promise.resolve();
  #pendingFinals = 0;
  #laneIdle = true;
  #laneWaiters: Array<() => void> = [];
  readonly #backend: AsrBackend;
  #lease: Lease<AsrBackend> | undefined;
  #acquiring: Promise<void> | undefined;
  /** An utterance is open: keep the lease between its engine calls. */
  #utteranceOpen = false;
  /** Segmentation has taken in every operation written and waits for the next one. */
  #waitingForInput = false;
  #engineStreaming: boolean;
  #language: string | undefined;
  #finals: ChunkTranscription[] = [];
  /** Engine time over audio time of the last re-transcription pass (or final): above 1 the engine is slower than real time. */
  #realTimeFactor: number | undefined;
  #nextUtterance = 0;

  constructor(options: LiveTranscriptionOptions) {
    if (!options.backend && !(options.pool && options.model)) throw new TypeError('openLiveTranscription needs a backend, or a pool and a model');
    this.#options = options;
    const model = options.model;
    const backend = options.backend ?? (typeof model === 'string' ? options.pool!.backend(model) : model!.backend);
    if (backend.modality !== 'asr') throw new SpeechError('UNSUPPORTED_CAPABILITY', 'live transcription needs an ASR model', { param: 'model' });
    this.#backend = backend;
    this.#resampler = new StreamResampler(options.sampleRate, VAD_SAMPLE_RATE);
    this.#maxQueued = Math.max(1, options.maxQueuedSeconds ?? 10) * VAD_SAMPLE_RATE;
    this.#engineStreaming = options.engineStreaming ?? true;
    this.#language = options.language;
    this.#events = new BoundedQueue(options.maxPendingEvents ?? 64, () => void this.close());
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.#abort.abort(signal.reason);
      else signal.addEventListener('abort', () => void this.close(), { once: true });
    }
    this.#finished = this.#run();
  }

  /** The session's signal: aborted by close(), the caller's signal or a consumer that left. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Seconds of audio written so far (at the input rate). */
  get receivedSeconds(): number {
    return this.#receivedSamples / this.#options.sampleRate;
  }

  /** Seconds of 16 kHz audio written and not yet segmented. */
  get queuedSeconds(): number {
    return this.#queuedSamples / VAD_SAMPLE_RATE;
  }

  /**
   * An utterance is open and everything written so far has been taken in: only more audio
   * (server VAD's silence included), a commit, a clear or `end()` can close it, and the
   * session holds (or waits for) the model lease until one comes. False while written audio
   * or a commit is still being processed, so a caller can time out a writer that went quiet
   * mid-utterance without cutting one whose last audio is still on its way through.
   */
  get utteranceWaitsForInput(): boolean {
    return this.#utteranceOpen && this.#waitingForInput && this.#operations.length === 0 && !this.#closed;
  }

  /**
   * Queues a block of mono float32 audio at the session's rate. Resolves when there is
   * room for more (at most `maxQueuedSeconds` waiting); a writer that does not wait and
   * passes twice that gets a PAYLOAD_TOO_LARGE error and the block is dropped.
   */
  async write(block: Float32Array): Promise<void> {
    this.#checkOpen('write');
    if (this.#queuedSamples > 2 * this.#maxQueued) {
      throw new SpeechError(
        'PAYLOAD_TOO_LARGE',
        `more than ${(2 * this.#maxQueued) / VAD_SAMPLE_RATE} s of audio is waiting to be processed; send audio no faster than it can be transcribed (wait for earlier writes)`,
      );
    }
    this.#receivedSamples += block.length;
    this.#push({ kind: 'audio', samples: this.#resampler.push(block) });
    while (this.#queuedSamples > this.#maxQueued && !this.#closed) {
      await new Promise<void>((resolve) => this.#wakeWriters.push(resolve));
    }
  }

  /** Ends the current utterance now (manual turn-taking). Refused, as a `rejected` event, when under 100 ms is buffered. */
  commit(): void {
    this.#checkOpen('commit');
    this.#push({ kind: 'commit' });
  }

  /** Drops the audio not yet committed (and the partial work on it). */
  clear(): void {
    this.#checkOpen('clear');
    this.#push({ kind: 'clear' });
  }

  /** No more audio: the last utterance is committed, every final is sent, then `done`. */
  end(): void {
    if (this.#ended || this.#closed) return;
    this.#push({ kind: 'audio', samples: this.#resampler.end() });
    this.#push({ kind: 'end' });
    this.#ended = true;
  }

  /** Stops everything now: work in flight is aborted, the lease released, the events end. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort(new SpeechError('ABORTED', 'the live transcription was closed'));
      this.#operations.length = 0;
      this.#queuedSamples = 0;
      this.#wake();
      this.#events.close();
    }
    await this.#finished;
  }

  /** Resolves when the session has ended and released the model, however it ended. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  [Symbol.asyncIterator](): AsyncIterator<LiveEvent, undefined> {
    return this.#events[Symbol.asyncIterator]();
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw new SpeechError('ABORTED', `cannot ${operation}: the live transcription is closed`);
    if (this.#ended) throw new SpeechError('INVALID_REQUEST', `cannot ${operation}: the audio has already ended`);
  }

  #push(operation: Operation): void {
    if (operation.kind === 'audio') {
      if (operation.samples.length === 0) return;
      this.#queuedSamples += operation.samples.length;
    }
    this.#operations.push(operation);
    this.#wake();
  }

  #wake(): void {
    const reader = this.#wakeReader;
    this.#wakeReader = undefined;
    reader?.();
    if (this.#queuedSamples <= this.#maxQueued || this.#closed) {
      const writers = this.#wakeWriters;
      this.#wakeWriters = [];
      for (const writer of writers) writer();
    }
  }

  async #nextOperation(): Promise<Operation | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const operation = this.#operations.shift();
      if (operation) {
        if (operation.kind === 'audio') this.#queuedSamples -= operation.samples.length;
        this.#wake();
        return operation;
      }
      this.#waitingForInput = true;
      try {
        await new Promise<void>((resolve) => (this.#wakeReader = resolve));
      } finally {
        this.#waitingForInput = false;
      }
    }
  }

  async #emit(event: LiveEvent): Promise<void> {
    this.#throwIfAborted();
    await this.#events.push(event);
  }

  #throwIfAborted(): void {
    if (this.#abort.signal.aborted) throw new SpeechError('ABORTED', 'the live transcription was closed');
  }

  /** Takes the pool lease if the session has none (a backend given by the caller needs none). */
  async #holdLease(): Promise<void> {
    if (this.#options.backend || this.#lease) return;
    this.#acquiring ??= (async () => {
      try {
        const lease = await this.#options.pool!.acquire<AsrBackend>(this.#options.model as PoolModelHandle<AsrBackend>, this.#abort.signal);
        if (this.#abort.signal.aborted) {
          lease.release();
          this.#throwIfAborted();
        }
        this.#lease = lease;
      } finally {
        this.#acquiring = undefined;
      }
    })();
    await this.#acquiring;
  }

  #releaseLease(): void {
    const lease = this.#lease;
    this.#lease = undefined;
    lease?.release();
  }

  async #run(): Promise<void> {
    try {
      if (this.#options.segmentation.type === 'chunks') {
        await this.#holdLease();
        await this.#runChunks();
      }
      else await this.#runUtterances();
      await this.#idleLane();
      this.#throwIfAborted();
      const seconds = this.#receivedSamples / this.#options.sampleRate;
      const result =
        this.#options.segmentation.type === 'chunks' && this.#finals.length === 1 && !this.#chunked
          ? { ...this.#finals[0]!.result, duration: seconds }
          : stitchLongAudio(this.#finals, seconds, this.#options.language);
      await this.#emit({ type: 'done', text: result.text, seconds, result });
      this.#events.close();
    } catch (error) {
      this.#abort.abort(error);
      this.#events.fail(asSpeechError(error));
      // Nothing may still run on the backend once the lease is released.
      await this.#idleLane().catch(() => {});
    } finally {
      this.#closed = true;
      this.#wake();
      this.#releaseLease();
    }
  }

  // ---- the engine lane ----------------------------------------------------------------

  /** Runs `task` after every earlier one; a failure of one task does not stop the next. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    this.#laneIdle = false;
    const run = this.#lane.then(async () => {
      await this.#holdLease();
      await task();
    });
    this.#lane = run.catch(() => {}).then(() => {
      if (this.#lane === settled) {
        this.#laneIdle = true;
        // Between utterances the model is free for other requests.
        if (!this.#utteranceOpen && this.#options.segmentation.type !== 'chunks') this.#releaseLease();
        const waiters = this.#laneWaiters;
        this.#laneWaiters = [];
        for (const waiter of waiters) waiter();
      }
    });
    const settled = this.#lane;
    return run;
  }

  async #idleLane(): Promise<void> {
    while (!this.#laneIdle) await new Promise<void>((resolve) => this.#laneWaiters.push(resolve));
  }

  #request(audio: Float32Array, language = this.#language): TranscribeRequest {
    const options = this.#options;
    return {
      audio,
      sampleRate: VAD_SAMPLE_RATE,
      language,
      task: options.task ?? 'transcribe',
      timestamps: options.timestamps ?? false,
      prompt: options.prompt,
      temperature: options.temperature,
      signal: this.#abort.signal,
    };
  }

  /** Holds segmentation while too many finals wait for the engine. */
  async #limitPendingFinals(): Promise<void> {
    while (this.#pendingFinals >= MAX_PENDING_FINALS) {
      this.#throwIfAborted();
      await new Promise<void>((resolve) => {
        const finished = this.#lane;
        void finished.then(resolve);
      });
    }
  }

  /** Queues the final transcription of a piece of audio. */
  #final(piece: { index: number; start: number; audio: Float32Array; utterance?: Utterance; source: LiveTextSource }): void {
    this.#pendingFinals++;
    void this.#enqueue(async () => {
      try {
        const { index, start, audio, utterance } = piece;
        let result: TranscriptionResult;
        let source = piece.source;
        const session = utterance?.session ? await utterance.session : undefined;
        if (utterance && session) {
          // Whatever was not fed yet, then the session's last text.
          if (utterance.fed < audio.length) await this.#feedSession(utterance, session, audio.subarray(utterance.fed));
          const last = await session.finalize();
          await this.#sendDelta(utterance, last.text, last.words, 'engine-stream');
          await session.close();
          const text = utterance.emitted.trim();
          result = { text, segments: [], words: [], ...(this.#language ? { language: this.#language } : {}) };
          source = 'engine-stream';
        } else {
          const began = performance.now();
          result = await this.#backend.transcribe(this.#request(audio));
          this.#measure(began, audio.length);
          if (utterance) {
            const text = result.text.trim();
            // Send what the partials did not, where the final extends them.
            if (text.startsWith(utterance.emitted) && text.length > utterance.emitted.length) {
              await this.#sendDelta(utterance, text.slice(utterance.emitted.length), [], source);
            }
          } else {
            const text = result.text.trim();
            if (text !== '') await this.#emit({ type: 'delta', utterance: index, text: this.#finals.some((part) => part.result.text.trim() !== '') ? ` ${text}` : text, words: result.words, source });
          }
        }
        if (this.#options.language === undefined && this.#language === undefined && result.language && result.text.trim() !== '') {
          this.#language = result.language;
        }
        const seconds = audio.length / VAD_SAMPLE_RATE;
        this.#finals.push({ start: start / VAD_SAMPLE_RATE, end: start / VAD_SAMPLE_RATE + seconds, result });
        await this.#emit({
          type: 'final',
          utterance: index,
          text: result.text.trim(),
          audioStartMs: ms(start),
          audioEndMs: ms(start + audio.length),
          result,
          source,
        });
      } catch (error) {
        if (isStop(error) || this.#abort.signal.aborted) throw error;
        await piece.utterance?.session?.then((session) => session?.close()).catch(() => {});
        await this.#emit({ type: 'failed', utterance: piece.index, error: asSpeechError(error) });
      } finally {
        this.#pendingFinals--;
      }
    }).catch((error) => {
      // An abort ends the session through #run; anything else fails it here.
      if (!this.#abort.signal.aborted) this.#abort.abort(error);
      this.#events.fail(asSpeechError(error));
    });
  }

  #measure(began: number, samples: number): void {
    const audioMs = (samples * 1000) / VAD_SAMPLE_RATE;
    if (audioMs > 0) this.#realTimeFactor = (performance.now() - began) / audioMs;
  }

  async #sendDelta(utterance: Utterance, text: string, words: TranscriptionWord[], source: LiveTextSource): Promise<void> {
    if (text === '') return;
    utterance.emitted += text;
    await this.#emit({ type: 'delta', utterance: utterance.index, text, words, source });
  }

  // ---- chunks: a recording ------------------------------------------------------------

  #chunked = false;

  async #runChunks(): Promise<void> {
    const operations = this.#audioOperations();
    let chunks: AsyncGenerator<AudioChunk, ChunkingSummary | undefined, undefined>;
    if (this.#backend.capabilities.longForm) {
      chunks = (async function* (): AsyncGenerator<AudioChunk, undefined, undefined> {
        const whole = new SampleBuffer();
        for await (const block of operations) whole.append(block);
        yield { start: 0, audio: whole.view().slice() };
      })();
    } else {
      chunks = this.#options.chunker.chunks(operations, this.#abort.signal) as AsyncGenerator<AudioChunk, ChunkingSummary | undefined, undefined>;
    }
    try {
      for (;;) {
        const next = await chunks.next();
        if (next.done) {
          this.#chunked = next.value?.chunked ?? false;
          break;
        }
        await this.#limitPendingFinals();
        this.#final({ index: this.#nextUtterance++, start: next.value.start, audio: next.value.audio, source: 'chunk' });
      }
    } finally {
      await chunks.return(undefined).catch(() => {});
    }
  }

  /** The written audio as blocks, until `end()`; commits and clears mean nothing for a recording. */
  async *#audioOperations(): AsyncGenerator<Float32Array, void, undefined> {
    for (;;) {
      const operation = await this.#nextOperation();
      if (!operation || operation.kind === 'end') return;
      if (operation.kind === 'audio') yield operation.samples;
    }
  }

  // ---- utterances: live audio ---------------------------------------------------------

  async #runUtterances(): Promise<void> {
    const segmentation = this.#options.segmentation;
    const voice = segmentation.type === 'server_vad' ? segmentation : undefined;
    const threshold = voice?.threshold ?? 0.5;
    const padding = Math.round(((voice?.prefixPaddingMs ?? 300) * VAD_SAMPLE_RATE) / 1000);
    const silenceWindows = Math.max(1, Math.ceil(((voice?.silenceDurationMs ?? 500) * VAD_SAMPLE_RATE) / (1000 * VAD_WINDOW_SAMPLES)));
    const maxUtterance = Math.max(1, Math.floor((this.#options.maxUtteranceSeconds ?? this.#options.chunker.options.maxSpeechSeconds) * VAD_SAMPLE_RATE));
    let detector: SpeechDetectorStream | undefined;
    if (voice) detector = (await this.#options.chunker.detector()).createStream();

    /** Samples segmented so far (the session timeline). */
    let position = 0;
    let utterance: Utterance | undefined;
    /** Audio before the current utterance, kept for its padding (VAD only). */
    const before = new SampleBuffer();
    const pending = new SampleBuffer();
    let silent = 0;
    /** Samples of the utterance up to the end of its last speech window. */
    let lastSpeechEnd = 0;

    const open = async (start: number, prefix: Float32Array) => {
      this.#utteranceOpen = true;
      utterance = { index: this.#nextUtterance++, start, audio: new SampleBuffer(), fed: 0, partialAt: 0, emitted: '', hypothesis: '', dropped: false, closed: false };
      utterance.audio.append(prefix);
      this.#openSession(utterance);
      if (voice) await this.#emit({ type: 'speech_started', utterance: utterance.index, audioStartMs: ms(start) });
    };
    const commit = async (keep: number, stopped: boolean) => {
      const closing = utterance!;
      closing.closed = true;
      closing.partial?.abort();
      utterance = undefined;
      this.#utteranceOpen = false;
      silent = 0;
      const end = closing.start + closing.audio.length;
      if (stopped) await this.#emit({ type: 'speech_stopped', utterance: closing.index, audioEndMs: ms(end) });
      const audio = closing.audio.view(0, Math.min(keep, closing.audio.length)).slice();
      await this.#emit({ type: 'committed', utterance: closing.index, audioStartMs: ms(closing.start), audioEndMs: ms(closing.start + audio.length) });
      await this.#limitPendingFinals();
      this.#final({ index: closing.index, start: closing.start, audio, utterance: closing, source: 'retranscription' });
    };
    const grow = async (block: Float32Array) => {
      utterance!.audio.append(block);
      this.#afterGrowth(utterance!);
      if (utterance!.audio.length >= maxUtterance) await commit(utterance!.audio.length, Boolean(voice));
    };

    for (;;) {
      const operation = await this.#nextOperation();
      if (!operation) return;
      if (operation.kind === 'audio') {
        if (!detector) {
          if (!utterance) await open(position, new Float32Array(0));
          position += operation.samples.length;
          await grow(operation.samples);
          continue;
        }
        pending.append(operation.samples);
        const whole = pending.length - (pending.length % VAD_WINDOW_SAMPLES);
        for (let offset = 0; offset < whole; offset += WINDOWS_PER_CALL * VAD_WINDOW_SAMPLES) {
          const windows = pending.view(offset, Math.min(whole, offset + WINDOWS_PER_CALL * VAD_WINDOW_SAMPLES)).slice();
          const probabilities = Float32Array.from(await detector.process(windows));
          this.#throwIfAborted();
          for (let index = 0; index < probabilities.length; index++) {
            const window = windows.subarray(index * VAD_WINDOW_SAMPLES, (index + 1) * VAD_WINDOW_SAMPLES);
            const speech = probabilities[index]! >= threshold;
            if (!utterance) {
              if (speech) {
                const prefix = before.view().slice();
                before.length = 0;
                await open(position - prefix.length, prefix);
                lastSpeechEnd = utterance!.audio.length + window.length;
                position += window.length;
                await grow(window);
              } else {
                before.append(window);
                before.keepLast(padding);
                position += window.length;
              }
              continue;
            }
            position += window.length;
            if (speech) {
              silent = 0;
              lastSpeechEnd = utterance.audio.length + window.length;
            } else silent++;
            await grow(window);
            if (utterance && silent >= silenceWindows) {
              const keep = lastSpeechEnd + padding;
              await commit(keep, true);
            }
          }
        }
        pending.keepLast(pending.length - whole);
      } else if (operation.kind === 'commit') {
        if (pending.length > 0 && utterance) {
          position += pending.length;
          await grow(pending.view().slice());
          pending.length = 0;
        }
        if (!utterance || (!detector && utterance.audio.length < MIN_COMMIT_SAMPLES)) {
          const buffered = utterance ? utterance.audio.length : 0;
          await this.#emit({
            type: 'rejected',
            operation: 'commit',
            error: new SpeechError(
              'INVALID_REQUEST',
              detector
                ? 'nothing to commit: no speech has been detected since the last commit'
                : `buffer too small: expected at least 100ms of audio, but the buffer only has ${((buffered * 1000) / VAD_SAMPLE_RATE).toFixed(2)}ms of audio`,
            ),
          });
          continue;
        }
        await commit(utterance.audio.length, false);
      } else if (operation.kind === 'clear') {
        if (utterance) {
          utterance.dropped = true;
          utterance.closed = true;
          utterance.partial?.abort();
          const session = utterance.session;
          utterance = undefined;
          this.#utteranceOpen = false;
          if (session) {
            void this.#enqueue(async () => {
              await (await session)?.close();
            }).catch(() => {});
          } else if (this.#laneIdle) this.#releaseLease();
        }
        before.length = 0;
        pending.length = 0;
        silent = 0;
        await this.#emit({ type: 'cleared' });
      } else {
        if (pending.length > 0) {
          if (utterance) await grow(pending.view().slice());
          position += pending.length;
          pending.length = 0;
        }
        if (utterance) await commit(utterance.audio.length, Boolean(detector));
        return;
      }
    }
  }

  /** Opens an engine streaming session for the utterance, when the backend has one. */
  #openSession(utterance: Utterance): void {
    const backend = this.#backend;
    if (!this.#engineStreaming || !backend.openStream || !backend.capabilities.streaming) return;
    let resolveSession!: (session: AsrStreamSession | undefined) => void;
    utterance.session = new Promise((resolve) => (resolveSession = resolve));
    void this.#enqueue(async () => {
      try {
        resolveSession(await backend.openStream!({ sampleRate: VAD_SAMPLE_RATE, language: this.#language, signal: this.#abort.signal }));
      } catch (error) {
        resolveSession(undefined);
        if (SpeechError.is(error) && (error as SpeechError).code === 'UNSUPPORTED_CAPABILITY') {
          // This model cannot stream after all: re-transcribe from now on.
          this.#engineStreaming = false;
          return;
        }
        throw error;
      }
    }).catch(() => {});
  }

  async #feedSession(utterance: Utterance, session: AsrStreamSession, audio: Float32Array): Promise<void> {
    utterance.fed += audio.length;
    const update = await session.feed(audio);
    await this.#sendDelta(utterance, update.text, update.words, 'engine-stream');
  }

  /** Partial results after the utterance grew: feed the session, or re-transcribe at a bounded rate. */
  #afterGrowth(utterance: Utterance): void {
    if (utterance.session) {
      // One feed queued at a time: it takes everything unfed when it runs.
      if (utterance.partialAt > utterance.fed || utterance.audio.length - utterance.fed < FEED_SAMPLES) return;
      utterance.partialAt = utterance.audio.length;
      void this.#enqueue(async () => {
        const session = await utterance.session;
        if (!session || utterance.dropped || utterance.fed >= utterance.audio.length) return;
        await this.#feedSession(utterance, session, utterance.audio.view(utterance.fed).slice());
      }).catch(() => {});
      return;
    }
    const interval = ((this.#options.partialIntervalMs ?? 1000) * VAD_SAMPLE_RATE) / 1000;
    if (interval <= 0 || !this.#laneIdle || utterance.audio.length - utterance.partialAt < interval) return;
    // An engine slower than real time has no time for partials: they would only delay the final.
    if (this.#realTimeFactor !== undefined && this.#realTimeFactor > 1) return;
    utterance.partialAt = utterance.audio.length;
    const audio = utterance.audio.view().slice();
    const partial = new AbortController();
    utterance.partial = partial;
    void this.#enqueue(async () => {
      if (utterance.closed || this.#abort.signal.aborted) return;
      // Aborted with the session, or when the utterance closes while this pass runs.
      const stop = () => partial.abort();
      this.#abort.signal.addEventListener('abort', stop, { once: true });
      let result: TranscriptionResult;
      try {
        const began = performance.now();
        result = await this.#backend.transcribe({ ...this.#request(audio), timestamps: false, signal: partial.signal });
        this.#measure(began, audio.length);
      } finally {
        this.#abort.signal.removeEventListener('abort', stop);
      }
      const text = result.text.trim();
      const agreed = agreedPrefix(utterance.hypothesis, text);
      utterance.hypothesis = text;
      if (!utterance.dropped && agreed.startsWith(utterance.emitted) && agreed.length > utterance.emitted.length) {
        await this.#sendDelta(utterance, agreed.slice(utterance.emitted.length), [], 'retranscription');
      }
    })
      // Audio that arrived while this one ran: the next partial starts now, not at the next block.
      .then(() => {
        if (!utterance.closed && !this.#abort.signal.aborted) {
          void this.#idleLane().then(() => !utterance.closed && !this.#abort.signal.aborted && this.#afterGrowth(utterance));
        }
      })
      .catch(() => {});
  }
}

/**
 * Opens a live transcription session: write audio blocks at any rate, iterate the events.
 *
 * ```ts
 * const live = openLiveTranscription({ pool, model, chunker, sampleRate: 24000, segmentation: { type: 'server_vad' } });
 * (async () => { for await (const block of audio) await live.write(block); live.end(); })();
 * for await (const event of live) if (event.type === 'delta') process.stdout.write(event.text);
 * ```
 *
 * The model is leased from `pool` while there is engine work (the whole recording for
 * `chunks`), or `backend` is used as given; every lease is released when `done` has been
 * read, on an error, on `close()`, when the signal aborts, or when the consumer leaves.
 */
export function openLiveTranscription(options: LiveTranscriptionOptions): LiveTranscription {
  return new LiveTranscription(options);
}
