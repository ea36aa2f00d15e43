/**
 * An ASR backend whose inference runs in a worker thread.
 *
 * onnxruntime-node runs `session.run` on the calling thread: a Whisper encoder pass of a
 * second would freeze the whole server (uploads, other requests, health checks, live
 * sessions) for that second. An engine therefore opens its model in a worker and serves
 * `transcribe` / `transcribeBatch` from there; the main thread only forwards the requests
 * and their aborts, and gets the results back.
 *
 * Core never imports `node:worker_threads`: the engine creates the worker (main side) and
 * hands over `parentPort` (worker side). This module is the protocol between the two:
 *
 * - {@link serveAsrWorker}, in the worker: opens the model with the engine's function,
 *   answers `ready` (with whatever the engine wants the main side to know, such as the
 *   capabilities found at load) or `failed`, then runs requests as they come: a single
 *   request goes to `transcribe`, several sent together to `transcribeBatch` (when the
 *   backend has it); each result is sent as soon as it settles.
 * - {@link AsrWorkerClient}, in the main thread: sends the requests (audio copied into a
 *   buffer of its own and transferred, so the caller's buffer is never detached; a piece
 *   the chunker handed over goes without the copy), relays aborts, and rebuilds
 *   `SpeechError`s from what the worker sent.
 *
 * If the worker dies, every pending and later request fails with INFERENCE_FAILED; a model
 * load can then bring up a new one.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AsrBackend, TranscribeRequest } from './backend.js';
import { modelWorkerReady, type ModelWorkerHandle } from './model-worker.js';
import { SpeechError, SPEECH_ERROR_STATUS, type SpeechErrorCode } from './speech-error.js';
import type { TranscriptionResult } from './transcription-result.js';
import { takeHandedOver } from './handed-over-audio.js';

/** The side of a `MessagePort` / `Worker` / `parentPort` the protocol uses. */
export interface MessageEndpoint {
  postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a port's listener signature
  on(event: 'message', listener: (message: any) => void): unknown;
}

/** A request as it crosses to the worker: everything but the signal. */
export type WireTranscribeRequest = Omit<TranscribeRequest, 'signal'>;

/** A SpeechError (or any error) as it crosses back. */
export interface WireError {
  code?: SpeechErrorCode;
  message: string;
  executor?: string;
  model?: string;
  param?: string;
  status?: number;
}

type ToWorker =
  | { type: 'transcribe'; ids: number[]; requests: WireTranscribeRequest[] }
  | { type: 'abort'; id: number }
  | { type: 'close' };

type FromWorker<Info> =
  | { type: 'ready'; info: Info }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; result: TranscriptionResult }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'closed' };

/** What the worker side needs from the engine's backend. */
export type WorkerServedBackend = Pick<AsrBackend, 'transcribe' | 'transcribeBatch' | 'dispose'>;

function toWire(error: unknown): WireError {
  if (SpeechError.is(error)) {
    return { code: error.code, message: error.message, executor: error.executor, model: error.model, param: error.param, status: error.status };
  }
  return { message: (error as Error)?.message ?? String(error) };
}

function fromWire(error: WireError, context: { executor: string; model: string }): SpeechError {
  if (error.code !== undefined && error.code in SPEECH_ERROR_STATUS) {
    return new SpeechError(error.code, error.message, { executor: error.executor, model: error.model, param: error.param, status: error.status });
  }
  return new SpeechError('INFERENCE_FAILED', `${context.executor} inference failed for model '${context.model}': ${error.message}`, context);
}

/**
 * Worker side: open the model with `open`, then serve requests on `port` until `close`.
 * `open` returns the backend and the `info` sent with `ready` (structured-cloneable).
 */
export function serveAsrWorker<Info>(port: MessageEndpoint, open: () => Promise<{ backend: WorkerServedBackend; info: Info }>): void {
  const send = (message: FromWorker<Info>, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);
  const controllers = new Map<number, AbortController>();
  let backend: WorkerServedBackend | undefined;
  let closing = false;
  const closeNow = async () => {
    const current = backend;
    backend = undefined;
    try {
      await current?.dispose();
    } finally {
      send({ type: 'closed' });
    }
  };

  const run = (ids: number[], requests: WireTranscribeRequest[]) => {
    const served = backend;
    if (!served) {
      for (const id of ids) send({ type: 'error', id, error: { code: 'MODEL_NOT_LOADED', message: 'the model is closing' } });
      return;
    }
    const full: TranscribeRequest[] = requests.map((request, index) => {
      const controller = new AbortController();
      controllers.set(ids[index]!, controller);
      return { ...request, signal: controller.signal };
    });
    let promises: Array<Promise<TranscriptionResult>>;
    try {
      promises = full.length > 1 && served.transcribeBatch ? served.transcribeBatch(full) : full.map((request) => served.transcribe(request));
    } catch (error) {
      promises = full.map(() => Promise.reject(error));
    }
    promises.forEach((promise, index) => {
      const id = ids[index]!;
      void Promise.resolve(promise).then(
        (result) => send({ type: 'result', id, result }),
        (error: unknown) => send({ type: 'error', id, error: toWire(error) }),
      ).finally(() => {
        controllers.delete(id);
        if (closing && controllers.size === 0) void closeNow();
      });
    });
  };

  port.on('message', (message: ToWorker) => {
    if (message.type === 'transcribe') run(message.ids, message.requests);
    else if (message.type === 'abort') controllers.get(message.id)?.abort(new SpeechError('ABORTED', 'the transcription was cancelled'));
    else if (message.type === 'close') {
      closing = true;
      for (const controller of controllers.values()) controller.abort(new SpeechError('ABORTED', 'the model is being unloaded'));
      if (controllers.size === 0) void closeNow();
    }
  });

  void (async () => {
    try {
      const opened = await open();
      backend = opened.backend;
      send({ type: 'ready', info: opened.info });
    } catch (error) {
      send({ type: 'failed', message: (error as Error)?.message ?? String(error) });
    }
  })();
}

/**
 * Where an engine's worker entry point is: `file` beside the calling module (`moduleUrl`,
 * its `import.meta.url`) when that is the built package, or in the package's `dist/` when
 * the caller runs from its TypeScript sources (the tests; the test script builds first).
 * Throws, saying to build, when neither exists.
 */
export function builtWorkerUrl(moduleUrl: string | URL, file: string): URL {
  const beside = new URL(`./${file}`, moduleUrl);
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL(`../dist/${file}`, moduleUrl);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`the worker ${file} is not built (${fileURLToPath(built)} is missing); run \`pnpm exec tsc -b\` first`);
}

/** The worker as the main side holds it: a message endpoint that can also be terminated. */
export type AsrWorkerHandle = MessageEndpoint & ModelWorkerHandle;

interface Pending {
  resolve(result: TranscriptionResult): void;
  reject(error: unknown): void;
}

/** How long a closing worker may take to dispose its model before it is terminated. */
const CLOSE_GRACE_MS = 5000;

/** Main side: forwards transcriptions to the worker. */
export class AsrWorkerClient<Info> {
  readonly info: Info;
  readonly #worker: AsrWorkerHandle;
  readonly #context: { executor: string; model: string };
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stopped: SpeechError | undefined;
  #closed?: Promise<void>;

  private constructor(worker: AsrWorkerHandle, info: Info, context: { executor: string; model: string }) {
    this.#worker = worker;
    this.info = info;
    this.#context = context;
    worker.on('message', (message: FromWorker<Info>) => this.#onMessage(message));
    worker.on('error', (error: Error) => this.#fail(error));
    worker.on('exit', (code: number) => this.#fail(new Error(`the worker exited with code ${code}`)));
  }

  /** Waits for the worker's `ready` (MODEL_LOAD_FAILED otherwise, the worker terminated). */
  static async start<Info>(worker: AsrWorkerHandle, context: { executor: string; model: string }): Promise<AsrWorkerClient<Info>> {
    const ready = await modelWorkerReady<{ type: 'ready'; info: Info }>(worker, context.model);
    return new AsrWorkerClient<Info>(worker, ready.info, context);
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.#pending.size;
  }

  #onMessage(message: FromWorker<Info>): void {
    if (message.type !== 'result' && message.type !== 'error') return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.type === 'result') pending.resolve(message.result);
    else pending.reject(fromWire(message.error, this.#context));
  }

  #fail(cause: unknown): void {
    if (this.#stopped) return;
    this.#stopped = new SpeechError(
      'INFERENCE_FAILED',
      `the ${this.#context.executor} worker of model '${this.#context.model}' stopped (${(cause as Error)?.message ?? cause}); load the model again`,
      { ...this.#context, cause },
    );
    for (const pending of this.#pending.values()) pending.reject(this.#stopped);
    this.#pending.clear();
  }

  transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    return this.transcribeBatch([request])[0]!;
  }

  /** Sends the requests together (the worker hands several to `transcribeBatch`); one promise each. */
  transcribeBatch(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>> {
    const ids: number[] = [];
    const wire: WireTranscribeRequest[] = [];
    const transfer: ArrayBuffer[] = [];
    const promises = requests.map((request) => {
      if (this.#stopped) return Promise.reject(this.#stopped);
      if (request.signal.aborted) return Promise.reject(new SpeechError('ABORTED', 'the transcription was cancelled'));
      const id = this.#nextId++;
      // The buffer goes to the worker: the array itself when core's chunker handed it over,
      // else a copy of our own (the caller's array may be a view into a buffer it still uses).
      const audio = takeHandedOver(request.audio) ?? request.audio.slice();
      const { signal, ...rest } = request;
      ids.push(id);
      wire.push({ ...rest, audio });
      transfer.push(audio.buffer as ArrayBuffer);
      return new Promise<TranscriptionResult>((resolve, reject) => {
        const onAbort = () => this.#worker.postMessage({ type: 'abort', id } satisfies ToWorker);
        signal.addEventListener('abort', onAbort, { once: true });
        this.#pending.set(id, {
          resolve: (result) => {
            signal.removeEventListener('abort', onAbort);
            resolve(result);
          },
          reject: (error) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        });
      });
    });
    if (ids.length > 0) this.#worker.postMessage({ type: 'transcribe', ids, requests: wire } satisfies ToWorker, transfer);
    return promises;
  }

  /** Disposes the model in the worker and ends the thread (terminated if it takes too long). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (!this.#stopped) {
        const closed = new Promise<void>((resolve) => {
          this.#worker.on('message', (message: FromWorker<Info>) => {
            if (message.type === 'closed') resolve();
          });
          this.#worker.on('exit', () => resolve());
        });
        this.#worker.postMessage({ type: 'close' } satisfies ToWorker);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
        clearTimeout(timer);
      }
      this.#fail(new Error('the model was unloaded'));
      await this.#worker.terminate();
    })();
    return this.#closed;
  }
}
