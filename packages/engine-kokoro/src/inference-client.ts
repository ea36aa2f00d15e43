/**
 * The main-thread side of the inference worker: start it, send runs, cancel them, close
 * it. Imported only when a model loads.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { SpeechError, modelWorkerReady } from '@talkies/core';
import type { InputDescription, TensorInput, WorkerReply, WorkerRequest, WorkerSetup } from './inference-worker.js';

/** How long a closing worker may take to release its session before it is terminated. */
const CLOSE_GRACE_MS = 2000;

function workerUrl(): URL {
  const built = new URL('./inference-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  // Running from the TypeScript sources (tests): Node strips the types itself.
  return new URL('./inference-worker.ts', import.meta.url);
}

interface Pending {
  resolve(samples: Float32Array): void;
  reject(error: unknown): void;
}

export class InferenceWorker {
  readonly inputs: InputDescription[];
  readonly outputs: string[];
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stopped: SpeechError | undefined;
  #closed?: Promise<void>;

  private constructor(worker: Worker, ready: Extract<WorkerReply, { type: 'ready' }>) {
    this.#worker = worker;
    this.inputs = ready.inputs;
    this.outputs = ready.outputs;
    worker.on('message', (reply: WorkerReply) => this.#onReply(reply));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => this.#fail(new Error(`the inference worker exited with code ${code}`)));
  }

  /** Starts a worker and opens the model in it; rejects with MODEL_LOAD_FAILED. */
  static async start(modelPath: string, sessionOptions: InferenceSession.SessionOptions, modelId: string): Promise<InferenceWorker> {
    const setup: WorkerSetup = { modelPath, sessionOptions };
    const worker = new Worker(workerUrl(), { workerData: setup });
    return new InferenceWorker(worker, await modelWorkerReady<Extract<WorkerReply, { type: 'ready' }>>(worker, modelId));
  }

  /** The worker died (or was closed); runs fail from now on. */
  get alive(): boolean {
    return this.#stopped === undefined;
  }

  #onReply(reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'error') return;
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.type === 'result') pending.resolve(reply.samples);
    else pending.reject(new SpeechError('INFERENCE_FAILED', `Kokoro inference failed: ${reply.message}`));
  }

  #fail(cause: unknown): void {
    if (this.#stopped) return;
    this.#stopped = new SpeechError('INFERENCE_FAILED', `the Kokoro inference worker stopped: ${(cause as Error)?.message ?? cause}`, { cause });
    for (const pending of this.#pending.values()) pending.reject(this.#stopped);
    this.#pending.clear();
  }

  /**
   * Runs the model once. Aborting rejects at once; the run is dropped if it has not
   * started, and otherwise finishes in the worker with nobody waiting for it.
   */
  run(feeds: Record<string, TensorInput>, output: string, signal?: AbortSignal): Promise<Float32Array> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    if (signal?.aborted) return Promise.reject(new SpeechError('ABORTED', 'synthesis was stopped because the request was aborted'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.#pending.delete(id)) return;
        this.#post({ type: 'cancel', id });
        reject(new SpeechError('ABORTED', 'synthesis was stopped because the request was aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (samples) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(samples);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.#post({ type: 'run', id, feeds, output });
    });
  }

  #post(request: WorkerRequest): void {
    this.#worker.postMessage(request);
  }

  /** Releases the session and ends the thread (terminating it if it does not finish in time). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (!this.#stopped) {
        const closed = new Promise<void>((resolve) => {
          const onMessage = (reply: WorkerReply) => {
            if (reply.type === 'closed') resolve();
          };
          this.#worker.on('message', onMessage);
          this.#worker.once('exit', () => resolve());
        });
        this.#post({ type: 'close' });
        const timer = setTimeout(() => void this.#worker.terminate(), CLOSE_GRACE_MS);
        await closed;
        clearTimeout(timer);
      }
      this.#fail(new Error('the model was unloaded'));
      await this.#worker.terminate();
    })();
    return this.#closed;
  }
}
