/**
 * A live session on a cache-aware streaming model: `stream_begin[_lang]`, `stream_feed`,
 * `stream_finalize`, `stream_free`.
 *
 * The header's rules, and how they are kept:
 * - A stream belongs to one thread: each session has its own worker thread
 *   (parakeet-stream-worker.ts), which begins the stream, makes every call on it and
 *   frees it. Calls are queued and run one after the other.
 * - Audio is 16 kHz mono float: other rates are resampled here, and large blocks are fed
 *   in pieces of at most {@link MAX_FEED_SAMPLES}, so one call never holds the thread long.
 * - The context outlives its streams: the backend closes every open session (and waits
 *   for its worker to free the stream) before it frees the context.
 * - A session abandoned half-way (client gone, signal aborted) is freed as soon as the
 *   call in progress returns; later calls reject.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SpeechError, type AsrStreamSession, type AsrStreamUpdate } from '@talkies/core';
import type { NativeContext, ParakeetLibrary } from './parakeet-library.js';
import { updateFromStreamJson, updateFromStreamText } from './parakeet-result.js';
import type { StreamWorkerReply, StreamWorkerRequest, StreamWorkerSetup } from './parakeet-stream-worker.js';

export const STREAM_SAMPLE_RATE = 16000;
/** One second of audio per native feed call. */
export const MAX_FEED_SAMPLES = STREAM_SAMPLE_RATE;

function workerUrl(): URL {
  const built = new URL('./parakeet-stream-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  // Running from the TypeScript sources (tests): Node strips the types itself.
  return new URL('./parakeet-stream-worker.ts', import.meta.url);
}

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
  language?: string;
  sampleRate: number;
  signal: AbortSignal;
  modelId: string;
  /** Called once the native stream is freed. */
  onClosed(session: ParakeetStreamSession): void;
}

/** Why a stream could not begin: the library's reason. */
export class StreamBeginError extends Error {}

export class ParakeetStreamSession implements AsrStreamSession {
  readonly #setup: SessionSetup;
  readonly #worker: Worker;
  readonly #pending = new Map<number, (reply: Extract<StreamWorkerReply, { type: 'result' }>) => void>();
  #nextId = 1;
  #state: 'open' | 'finalized' | 'closed' = 'open';
  #queue: Promise<unknown> = Promise.resolve();
  #closed?: Promise<void>;
  #exited: Promise<void>;
  #workerGone = false;
  readonly #onAbort = () => void this.close();

  private constructor(setup: SessionSetup, worker: Worker) {
    this.#setup = setup;
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (reply: StreamWorkerReply) => {
      if (reply.type === 'result') {
        const settle = this.#pending.get(reply.id);
        this.#pending.delete(reply.id);
        settle?.(reply);
      }
    });
    worker.once('exit', () => {
      this.#workerGone = true;
      for (const settle of this.#pending.values()) settle({ type: 'result', id: 0, raw: null, mask: 0, error: 'the stream thread exited' });
      this.#pending.clear();
    });
    setup.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Starts the session's thread and begins the stream on it; rejects with {@link StreamBeginError}. */
  static async open(setup: SessionSetup): Promise<ParakeetStreamSession> {
    const workerSetup: StreamWorkerSetup = {
      libraryPath: setup.library.path,
      context: setup.library.address(setup.context),
      ...(setup.language === undefined ? {} : { language: setup.language }),
      json: setup.library.features.streamJson,
    };
    const worker = new Worker(workerUrl(), { workerData: workerSetup });
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (reply: StreamWorkerReply) => {
        cleanup();
        if (reply.type === 'begun') resolve();
        else reject(new StreamBeginError(reply.type === 'failed' ? reply.message : `unexpected '${reply.type}' from the stream thread`));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(new StreamBeginError(`the stream thread failed: ${error.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new StreamBeginError(`the stream thread exited with code ${code}`));
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    });
    return new ParakeetStreamSession(setup, worker);
  }

  /** Runs `task` after every call before it: one call on this stream at a time. */
  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #checkUsable(action: string): void {
    if (this.#state === 'open' && !this.#setup.signal.aborted && !this.#workerGone) return;
    const closed = this.#setup.signal.aborted || this.#state === 'closed' || this.#workerGone;
    throw new SpeechError(closed ? 'ABORTED' : 'INVALID_REQUEST', `cannot ${action}: the stream is ${closed ? 'closed' : 'finalized'}`, {
      executor: 'parakeet_cpp',
      model: this.#setup.modelId,
    });
  }

  async #call(request: { type: 'feed'; audio: Float32Array } | { type: 'finalize' }): Promise<AsrStreamUpdate> {
    const id = this.#nextId++;
    const reply = await new Promise<Extract<StreamWorkerReply, { type: 'result' }>>((resolve) => {
      this.#pending.set(id, resolve);
      const message: StreamWorkerRequest = request.type === 'feed' ? { type: 'feed', id, audio: request.audio } : { type: 'finalize', id };
      this.#worker.postMessage(message);
    });
    const { library, modelId } = this.#setup;
    if (reply.raw === null) {
      throw new SpeechError('INFERENCE_FAILED', `parakeet.cpp stream ${request.type} failed for model '${modelId}': ${reply.error || 'no reason given'}`, {
        executor: 'parakeet_cpp',
        model: modelId,
      });
    }
    return library.features.streamJson ? updateFromStreamJson(reply.raw, library.abi) : updateFromStreamText(reply.raw, reply.mask, library.abi);
  }

  feed(audio: Float32Array): Promise<AsrStreamUpdate> {
    return this.#enqueue(async () => {
      const samples = resampleTo16k(audio, this.#setup.sampleRate);
      const updates: AsrStreamUpdate[] = [];
      let offset = 0;
      do {
        // Checked before every piece: a close() in between stops the rest.
        this.#checkUsable('feed');
        // A copy per piece: it is handed over to the stream's thread.
        updates.push(await this.#call({ type: 'feed', audio: samples.slice(offset, offset + MAX_FEED_SAMPLES) }));
        offset += MAX_FEED_SAMPLES;
      } while (offset < samples.length);
      return merge(updates);
    });
  }

  finalize(): Promise<AsrStreamUpdate> {
    return this.#enqueue(async () => {
      this.#checkUsable('finalize');
      this.#state = 'finalized';
      return this.#call({ type: 'finalize' });
    });
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#state = 'closed';
      this.#setup.signal.removeEventListener('abort', this.#onAbort);
      // The call in progress finishes on the stream's thread; then that thread frees the
      // stream and ends.
      await this.#queue;
      if (!this.#workerGone) this.#worker.postMessage({ type: 'close' } satisfies StreamWorkerRequest);
      await this.#exited;
      this.#setup.onClosed(this);
    })();
    return this.#closed;
  }
}
