/**
 * Batched inference for several transcriptions at once. Each piece runs the ordinary
 * transcription loop (windows, seek rule, language detection, temperature fallback, word
 * timings) as its own async task; only its three model calls go through this scheduler:
 * encode a window, detect the language, decode a window. The scheduler waits until every
 * task still running is blocked on one of those calls, then runs the waiting calls of one
 * kind together, as one batch:
 *
 * - encodes: one encoder run over the stacked windows, as many as the caller allows (the
 *   transcriber allows one for base and larger models: batched, their compute-bound
 *   encoder ran slower);
 * - language detections: one decoder step over the stacked `<|startoftranscript|>` rows;
 * - window decodes with the same prompt length (greedy or sampled): one batched
 *   autoregressive loop ({@link decodeWindowsBatched}: prompt steps one window at a time,
 *   then single-token steps over all rows), whose sequences leave as they end;
 * - beam searches: one at a time, as alone.
 *
 * One batch runs at a time (the cores are onnxruntime's). A task whose decode failed the
 * quality checks asks for another decode at the next temperature, which is batched with
 * whatever else waits then or runs alone: each call's result is the one the task would
 * have had on its own, so the tasks' results are those of sequential transcriptions.
 */
import type * as OnnxRuntime from 'onnxruntime-node';
import { batchKey, decodeWindow, decodeWindowsBatched, type WindowDecodeOptions, type WindowDecodeResult } from './window-decoder.js';
import type { WhisperSessions } from './whisper-sessions.js';

type Tensor = OnnxRuntime.Tensor;

/** The model calls of one transcription; the transcriber calls nothing else that waits. */
export interface WindowOperations {
  /** Encoder output `[1, positions, d]` for one window of features `[melBins, frames]`. */
  encode(features: Float32Array): Promise<Tensor>;
  /** Logits after `<|startoftranscript|>` alone (language detection). */
  detect(encoderHidden: Tensor): Promise<Float32Array>;
  decode(encoderHidden: Tensor, options: WindowDecodeOptions): Promise<WindowDecodeResult>;
}

/** The operations run one by one, for a single transcription. */
export function directOperations(sessions: WhisperSessions, melBins: number, frames: number, startOfTranscript: number): WindowOperations {
  return {
    encode: (features) => sessions.encode(features, melBins, frames),
    detect: async (encoderHidden) => {
      const step = await sessions.step([startOfTranscript], 1, encoderHidden, undefined, false);
      return step.logits.subarray(0, step.vocabulary);
    },
    decode: (encoderHidden, options) => decodeWindow(sessions, encoderHidden, options),
  };
}

type Call =
  | { kind: 'encode'; features: Float32Array; resolve: (value: Tensor) => void; reject: (error: unknown) => void }
  | { kind: 'detect'; encoderHidden: Tensor; resolve: (value: Float32Array) => void; reject: (error: unknown) => void }
  | { kind: 'decode'; encoderHidden: Tensor; options: WindowDecodeOptions; resolve: (value: WindowDecodeResult) => void; reject: (error: unknown) => void };

export class BatchScheduler {
  readonly #sessions: WhisperSessions;
  readonly #melBins: number;
  readonly #frames: number;
  readonly #startOfTranscript: number;
  readonly #maxBatch: number;
  readonly #maxEncoderBatch: number;
  /** Tasks still running, and how many of them wait on a call. */
  #tasks = 0;
  #blocked = 0;
  #waiting: Call[] = [];
  #running = false;

  constructor(sessions: WhisperSessions, melBins: number, frames: number, startOfTranscript: number, maxBatch: number, maxEncoderBatch = maxBatch) {
    this.#sessions = sessions;
    this.#melBins = melBins;
    this.#frames = frames;
    this.#startOfTranscript = startOfTranscript;
    this.#maxBatch = Math.max(1, maxBatch);
    this.#maxEncoderBatch = Math.max(1, Math.min(maxBatch, maxEncoderBatch));
  }

  /**
   * Runs `tasks` together, each with the batched operations; the result of task `i` is
   * promise `i`, settled as soon as that task is done. At most the batch size of tasks run
   * at once (the others start as running ones end), so that the memory a call holds is
   * that of one batch, however many tasks it is given.
   */
  runAll<T>(tasks: ReadonlyArray<(operations: WindowOperations) => Promise<T>>): Array<Promise<T>> {
    const settlers: Array<{ resolve: (value: T) => void; reject: (error: unknown) => void }> = [];
    const results = tasks.map(() => new Promise<T>((resolve, reject) => settlers.push({ resolve, reject })));
    let next = 0;
    const start = (): void => {
      const index = next++;
      void (async () => {
        try {
          settlers[index]!.resolve(await tasks[index]!(this.#operations));
        } catch (error) {
          settlers[index]!.reject(error);
        } finally {
          this.#tasks--;
          if (next < tasks.length) {
            this.#tasks++;
            start();
          }
          this.#kick();
        }
      })();
    };
    // All of the first group count before the first can wait, so that its first call waits for the others'.
    const first = Math.min(tasks.length, this.#maxBatch);
    this.#tasks += first;
    for (let count = 0; count < first; count++) start();
    return results;
  }

  readonly #operations: WindowOperations = {
    encode: (features) => new Promise((resolve, reject) => this.#submit({ kind: 'encode', features, resolve, reject })),
    detect: (encoderHidden) => new Promise((resolve, reject) => this.#submit({ kind: 'detect', encoderHidden, resolve, reject })),
    decode: (encoderHidden, options) => new Promise((resolve, reject) => this.#submit({ kind: 'decode', encoderHidden, options, resolve, reject })),
  };

  #submit(call: Call): void {
    this.#waiting.push(call);
    this.#blocked++;
    this.#kick();
  }

  /** Settles one call: its task is running again from here on. */
  #settle<V>(call: { resolve: (value: V) => void; reject: (error: unknown) => void }, outcome: { value: V } | { error: unknown }): void {
    this.#blocked--;
    if ('value' in outcome) call.resolve(outcome.value);
    else call.reject(outcome.error);
  }

  #kick(): void {
    if (this.#running || this.#waiting.length === 0 || this.#blocked < this.#tasks) return;
    this.#running = true;
    void this.#runNext().finally(() => {
      this.#running = false;
      this.#kick();
    });
  }

  #key(call: Call): string | undefined {
    return call.kind === 'decode' ? (batchKey(call.options, this.#sessions) === undefined ? undefined : `decode:${batchKey(call.options, this.#sessions)}`) : call.kind;
  }

  /** Takes the oldest waiting call and those of its kind that can join it, up to the batch size. */
  async #runNext(): Promise<void> {
    const first = this.#waiting[0]!;
    const key = this.#key(first);
    const batch: Call[] = [];
    const rest: Call[] = [];
    const limit = first.kind === 'encode' ? this.#maxEncoderBatch : this.#maxBatch;
    for (const call of this.#waiting) {
      if (batch.length < limit && (call === first || (key !== undefined && this.#key(call) === key))) batch.push(call);
      else rest.push(call);
    }
    this.#waiting = rest;
    try {
      if (first.kind === 'encode') await this.#encode(batch as Array<Extract<Call, { kind: 'encode' }>>);
      else if (first.kind === 'detect') await this.#detect(batch as Array<Extract<Call, { kind: 'detect' }>>);
      else await this.#decode(batch as Array<Extract<Call, { kind: 'decode' }>>, key === undefined);
    } catch (error) {
      // A failure of the batch as a whole (the ones above settle their own calls otherwise).
      for (const call of batch) this.#settleOnce(call, { error });
    }
  }

  readonly #settled = new WeakSet<Call>();

  #settleOnce(call: Call, outcome: { value: unknown } | { error: unknown }): void {
    if (this.#settled.has(call)) return;
    this.#settled.add(call);
    this.#settle(call as { resolve: (value: unknown) => void; reject: (error: unknown) => void }, outcome);
  }

  async #encode(calls: Array<Extract<Call, { kind: 'encode' }>>): Promise<void> {
    const outputs = await this.#sessions.encodeBatch(
      calls.map((call) => call.features),
      this.#melBins,
      this.#frames,
    );
    calls.forEach((call, index) => this.#settleOnce(call, { value: outputs[index]! }));
  }

  async #detect(calls: Array<Extract<Call, { kind: 'detect' }>>): Promise<void> {
    const hidden = this.#sessions.stack(calls.map((call) => call.encoderHidden));
    const step = await this.#sessions.step(
      calls.map(() => this.#startOfTranscript),
      calls.length,
      hidden,
      undefined,
      false,
    );
    calls.forEach((call, row) => this.#settleOnce(call, { value: step.logits.slice(row * step.vocabulary, (row + 1) * step.vocabulary) }));
  }

  async #decode(calls: Array<Extract<Call, { kind: 'decode' }>>, alone: boolean): Promise<void> {
    if (alone) {
      const call = calls[0]!;
      this.#settleOnce(call, { value: await decodeWindow(this.#sessions, call.encoderHidden, call.options) });
      return;
    }
    await decodeWindowsBatched(
      this.#sessions,
      calls.map((call) => ({ encoderHidden: call.encoderHidden, options: call.options })),
      (index, outcome) => this.#settleOnce(calls[index]!, 'result' in outcome ? { value: outcome.result } : outcome),
    );
  }
}
