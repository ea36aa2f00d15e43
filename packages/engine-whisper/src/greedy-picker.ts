/**
 * The greedy choice of a decoder step, for all of its rows in one onnxruntime call: the
 * largest logit of each row's last position (the lowest index among ties, as
 * {@link argmax}) and its log-probability (log-softmax over the row). In JavaScript this
 * was two passes over 51 865 logits per row and step, one of them an exponential per
 * logit: 2.4 ms of a 20 ms eight-row step on base, while onnxruntime's threads waited.
 * onnxruntime's vectorised kernels take 0.3 ms for the eight rows.
 *
 * The log-probability is float32 (as openai/whisper's float32 log-softmax); each row's
 * values do not depend on the other rows of the batch, so a batch gives what each row
 * gives alone.
 */
import type * as OnnxRuntime from 'onnxruntime-node';
import { encodeSmallModel } from './small-onnx-model.js';

type Ort = typeof OnnxRuntime;

const FLOAT = 1;
const INT64 = 7;

/** logits `[batch, length, vocabulary]` → token `[batch, 1]` (int64), logprob `[batch, 1]`. */
export function greedyPickerModel(): Uint8Array {
  return encodeSmallModel({
    name: 'greedy_picker',
    opset: 17,
    inputs: [{ name: 'logits', elementType: FLOAT, dims: ['batch', 'length', 'vocabulary'] }],
    outputs: [
      { name: 'token', elementType: INT64, dims: ['batch', 1] },
      { name: 'logprob', elementType: FLOAT, dims: ['batch', 1] },
    ],
    nodes: [
      { opType: 'Constant', inputs: [], outputs: ['last_position'], attributes: { value_int: -1 } },
      { opType: 'Gather', inputs: ['logits', 'last_position'], outputs: ['last'], attributes: { axis: 1 } },
      { opType: 'ArgMax', inputs: ['last'], outputs: ['token'], attributes: { axis: -1, keepdims: 1, select_last_index: 0 } },
      { opType: 'LogSoftmax', inputs: ['last'], outputs: ['log_probabilities'], attributes: { axis: -1 } },
      { opType: 'GatherElements', inputs: ['log_probabilities', 'token'], outputs: ['logprob'], attributes: { axis: -1 } },
    ],
  });
}

export interface GreedyChoice {
  /** Per row: the token. */
  tokens: Int32Array;
  /** Per row: its log-probability among the row's (filtered) logits. */
  logprobs: Float32Array;
}

export class GreedyPicker {
  readonly #ort: Ort;
  readonly #session: OnnxRuntime.InferenceSession;

  private constructor(ort: Ort, session: OnnxRuntime.InferenceSession) {
    this.#ort = ort;
    this.#session = session;
  }

  /**
   * On the CPU whatever the decoder runs on (the logits are in JavaScript memory already),
   * and on the calling thread alone: a thread pool of its own would spin after each pick
   * and take a core from the decoder's (measured on 2 cores: an eight-piece batch 5.8 to
   * 6.8 s with two threads here, 4.7 to 4.9 s with one, 5.1 to 5.4 s picking in JavaScript).
   */
  static async create(ort: Ort): Promise<GreedyPicker> {
    const session = await ort.InferenceSession.create(greedyPickerModel(), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      intraOpNumThreads: 1,
    });
    return new GreedyPicker(ort, session);
  }

  /** `logits` is `[batch, length, vocabulary]`, row-major; every row's last position is read. */
  async pick(logits: Float32Array, batch: number, length: number, vocabulary: number): Promise<GreedyChoice> {
    const output = await this.#session.run({ logits: new this.#ort.Tensor('float32', logits, [batch, length, vocabulary]) });
    const tokens = Int32Array.from(output.token!.data as BigInt64Array, Number);
    return { tokens, logprobs: output.logprob!.data as Float32Array };
  }

  async release(): Promise<void> {
    await this.#session.release();
  }
}
