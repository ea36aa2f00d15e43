/**
 * A live session on a cache-aware streaming model: `stream_begin[_lang]`, `stream_feed`,
 * `stream_finalize`, `stream_free`.
 *
 * The header's rules, and how they are kept:
 * - A stream is used from one thread at a time: calls are queued and run one after the
 *   other (each on a koffi worker thread), never two at once.
 * - Audio is 16 kHz mono float: other rates are resampled here, and large blocks are fed
 *   in pieces of at most {@link MAX_FEED_SAMPLES}, so one call never holds a worker long.
 * - The context outlives its streams: the backend closes every open session before it
 *   frees the context.
 * - A session abandoned half-way (client gone, signal aborted) is freed as soon as the
 *   call in progress returns; later calls reject.
 */
import { SpeechError, type AsrStreamSession, type AsrStreamUpdate } from '@talkies/core';
import type { NativeContext, NativeStream, ParakeetLibrary } from './parakeet-library.js';
import { updateFromStreamJson, updateFromStreamText } from './parakeet-result.js';

export const STREAM_SAMPLE_RATE = 16000;
/** One second of audio per native feed call. */
export const MAX_FEED_SAMPLES = STREAM_SAMPLE_RATE;

/** Linear resampling to 16 kHz (the stream API takes no sample rate). */
export function resampleTo16k(audio: Float32Array, sampleRate: number): Float32Array {
  if (sampleRate === STREAM_SAMPLE_RATE) return audio;
  const length = Math.floor((audio.length * STREAM_SAMPLE_RATE) / sampleRate);
  const out = new Float32Array(length);
  const step = sampleRate / STREAM_SAMPLE_RATE;
  for (let index = 0; index < length; index++) {
    const position = index * step;
    const left = Math.floor(position);
    const right = Math.min(left + 1, audio.length - 1);
    const fraction = position - left;
    out[index] = audio[left]! * (1 - fraction) + audio[right]! * fraction;
  }
  return out;
}

function merge(updates: AsrStreamUpdate[]): AsrStreamUpdate {
  return {
    text: updates.map((update) => update.text).join(''),
    words: updates.flatMap((update) => update.words),
    events: updates.flatMap((update) => update.events),
  };
}

export interface SessionSetup {
  library: ParakeetLibrary;
  context: NativeContext;
  stream: NativeStream;
  sampleRate: number;
  signal: AbortSignal;
  modelId: string;
  /** Called once the native stream is freed. */
  onClosed(session: ParakeetStreamSession): void;
}

export class ParakeetStreamSession implements AsrStreamSession {
  readonly #setup: SessionSetup;
  #stream: NativeStream | undefined;
  #state: 'open' | 'finalized' | 'closed' = 'open';
  #queue: Promise<unknown> = Promise.resolve();
  #closed?: Promise<void>;
  readonly #onAbort = () => void this.close();

  constructor(setup: SessionSetup) {
    this.#setup = setup;
    this.#stream = setup.stream;
    setup.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Runs `task` after every call before it: one native call on this stream at a time. */
  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #usable(action: string): NativeStream {
    if (this.#state === 'open' && this.#stream && !this.#setup.signal.aborted) return this.#stream;
    const why = this.#setup.signal.aborted || this.#state === 'closed' ? 'closed' : 'finalized';
    throw new SpeechError(why === 'closed' ? 'ABORTED' : 'INVALID_REQUEST', `cannot ${action}: the stream is ${why}`, {
      executor: 'parakeet_cpp',
      model: this.#setup.modelId,
    });
  }

  #failure(action: string): SpeechError {
    const reason = this.#setup.library.lastError(this.#setup.context) || 'no reason given';
    return new SpeechError('INFERENCE_FAILED', `parakeet.cpp stream ${action} failed for model '${this.#setup.modelId}': ${reason}`, {
      executor: 'parakeet_cpp',
      model: this.#setup.modelId,
    });
  }

  feed(audio: Float32Array): Promise<AsrStreamUpdate> {
    return this.#enqueue(async () => {
      const { library, sampleRate } = this.#setup;
      const samples = resampleTo16k(audio, sampleRate);
      const updates: AsrStreamUpdate[] = [];
      for (let offset = 0; offset < samples.length || offset === 0; offset += MAX_FEED_SAMPLES) {
        // Checked before every piece: a close() in between stops the rest.
        const stream = this.#usable('feed');
        const piece = samples.subarray(offset, offset + MAX_FEED_SAMPLES);
        if (library.features.streamJson) {
          const raw = await library.streamFeedJson(stream, piece);
          if (raw === null) throw this.#failure('feed');
          updates.push(updateFromStreamJson(raw, library.abi));
        } else {
          const { text, events } = await library.streamFeed(stream, piece);
          if (text === null) throw this.#failure('feed');
          updates.push(updateFromStreamText(text, events, library.abi));
        }
        if (samples.length === 0) break;
      }
      return merge(updates);
    });
  }

  finalize(): Promise<AsrStreamUpdate> {
    return this.#enqueue(async () => {
      const { library } = this.#setup;
      const stream = this.#usable('finalize');
      this.#state = 'finalized';
      const raw = await library.streamFinalize(stream, library.features.streamJson);
      if (raw === null) throw this.#failure('finalize');
      return library.features.streamJson ? updateFromStreamJson(raw, library.abi) : updateFromStreamText(raw, 0, library.abi);
    });
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#state = 'closed';
      this.#setup.signal.removeEventListener('abort', this.#onAbort);
      // Wait for the call in progress (it owns the stream on its thread), then free.
      await this.#queue;
      const stream = this.#stream;
      this.#stream = undefined;
      if (stream) this.#setup.library.streamFree(stream);
      this.#setup.onClosed(this);
    })();
    return this.#closed;
  }
}
