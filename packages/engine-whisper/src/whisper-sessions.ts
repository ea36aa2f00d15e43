/**
 * The two onnxruntime sessions of a Whisper export and the tensor plumbing around them:
 * the encoder call, and one decoder step of the merged decoder with its KV cache.
 *
 * Merged-decoder protocol (optimum): the first step runs with `use_cache_branch = false`,
 * the whole prompt and empty pasts; it computes the cross-attention keys and values from
 * the encoder output. Later steps run with `use_cache_branch = true`, the new token(s) and
 * every `present.*` fed back as `past_key_values.*` — except the encoder ones, whose
 * presents are empty placeholders on the cached branch: the first step's stay in use.
 */
import type * as OnnxRuntime from 'onnxruntime-node';
import { defaultInferenceThreads } from '@talkies/core';
import { CrossCacheBuffers, keepRowsInPlace } from './cross-cache-buffers.js';
import { GreedyPicker, type GreedyChoice } from './greedy-picker.js';

type Ort = typeof OnnxRuntime;
type Tensor = OnnxRuntime.Tensor;
type Session = OnnxRuntime.InferenceSession;

export interface SessionSettings {
  /** onnxruntime intra-op threads; default: core's {@link defaultInferenceThreads}. */
  threads?: number;
  executionProvider: 'cpu' | 'cuda';
}

/** Key/value cache of the decoder: `past_key_values.{i}.{decoder|encoder}.{key|value}` → tensor. */
export type KeyValueCache = Map<string, Tensor>;

/**
 * How long a batch's cross-attention buffers are kept for the next batch. Made anew, they
 * are fresh pages that the next prompt steps fault in (on the 2-core VM of
 * docs/benchmarks.md ~12 µs a page: 0.3 s for a batch of three windows of base, 0.9 s for
 * eight), so a trickle of long recordings a minute apart would pay that on every one; an
 * idle model gives them back well before `TALKIES_MODEL_TTL`'s 10 minutes unload it.
 */
const CROSS_BUFFERS_IDLE_MS = 120_000;

/** A batch's stacked cross-attention cache ({@link WhisperSessions.crossCacheRows}). */
export interface CrossCacheRows {
  /** `past_key_values.*.encoder.*` → `[rows, heads, positions, headSize]`. */
  stacked: KeyValueCache;
  /** Per row, `present.*.encoder.*` → that row's `[1, …]` view of the stacked tensors. */
  rowViews: Array<Map<string, Tensor>>;
  /** Keeps rows `staying` (ascending), moved down in place; the stacked tensors for them. */
  keep(staying: readonly number[]): KeyValueCache;
  /** Hands the buffers back for the next batch; the tensors must not be used after. */
  release(): void;
}

export interface DecoderStepResult {
  /** Float32 logits `[batch, length, vocabulary]`. */
  logits: Float32Array;
  batch: number;
  length: number;
  vocabulary: number;
  cache: KeyValueCache;
  /** Per decoder layer `[batch, heads, length, frames]` when the export has them and they were asked for. */
  crossAttentions?: Array<{ data: Float32Array; dims: readonly number[] }>;
}

export function float32ToFloat16(values: Float32Array): Uint16Array {
  const native = (globalThis as { Float16Array?: new (values: Float32Array) => ArrayBufferView }).Float16Array;
  if (native) {
    const half = new native(values);
    return new Uint16Array(half.buffer, half.byteOffset, values.length);
  }
  const out = new Uint16Array(values.length);
  const view = new DataView(new ArrayBuffer(4));
  for (let index = 0; index < values.length; index++) {
    view.setFloat32(0, values[index]!);
    const bits = view.getUint32(0);
    const sign = (bits >>> 16) & 0x8000;
    const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
    const mantissa = bits & 0x7fffff;
    if (exponent <= 0) {
      out[index] = exponent < -10 ? sign : sign | ((mantissa | 0x800000) >> (1 - exponent + 13));
    } else if (exponent >= 31) {
      out[index] = sign | 0x7c00 | (((bits >>> 23) & 0xff) === 0xff && mantissa ? 0x200 : 0);
    } else {
      // Round to nearest even.
      let half = sign | (exponent << 10) | (mantissa >> 13);
      const rest = mantissa & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
      out[index] = half;
    }
  }
  return out;
}

export function float16ToFloat32(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let index = 0; index < values.length; index++) {
    const half = values[index]!;
    const sign = half & 0x8000 ? -1 : 1;
    const exponent = (half >> 10) & 0x1f;
    const fraction = half & 0x3ff;
    out[index] =
      exponent === 0 ? sign * 2 ** -14 * (fraction / 1024)
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
      : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

/**
 * onnxruntime-common wraps float16 data in a Float16Array where the runtime has one (Node
 * 24), but onnxruntime-node 1.30's binding cannot read Float16Array inputs ("not enough
 * space … got 0"). Float16 inputs are therefore handed over as Uint16Array views of the
 * same bits.
 */
function feedable(ort: Ort, tensor: Tensor): Tensor {
  if (tensor.type !== 'float16' || tensor.data instanceof Uint16Array) return tensor;
  const data = tensor.data as unknown as ArrayBufferView & { length: number };
  return float16Tensor(ort, new Uint16Array(data.buffer, data.byteOffset, data.length), tensor.dims);
}

function float16Tensor(ort: Ort, bits: Uint16Array, dims: readonly number[]): Tensor {
  const tensor = new ort.Tensor('float16', bits, dims);
  if (!(tensor.data instanceof Uint16Array)) (tensor as unknown as { cpuData: Uint16Array }).cpuData = bits;
  return tensor;
}

/** A tensor of `type` from raw element data (float16 as bits). */
function makeTensor(ort: Ort, type: string, data: ArrayBufferView & { length: number }, dims: readonly number[]): Tensor {
  if (type === 'float16') return float16Tensor(ort, data instanceof Uint16Array ? data : new Uint16Array(data.buffer, data.byteOffset, data.length), dims);
  return new ort.Tensor(type as 'float32', data as Float32Array, dims);
}

function toFloat32(tensor: Tensor): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float16') {
    const data = tensor.data as unknown;
    if (data instanceof Uint16Array) return float16ToFloat32(data);
    return Float32Array.from(data as ArrayLike<number>);
  }
  throw new Error(`unexpected tensor type ${tensor.type}`);
}

/**
 * Frees the memory of a tensor that nothing will read again now, instead of at the next
 * garbage collection. onnxruntime-node copies every output into a new ArrayBuffer, also
 * those it wrote into a tensor the caller supplied, and a whisper-base prompt step returns
 * 37 MB of such copies per window. Left to the collector, these buffers go back to the C
 * allocator in bursts, which hands the pages back to the system, and the next step's
 * copies fault them in again (measured: a prompt step took 116 to 136 ms with ~6 000 page
 * faults, and 49 to 77 ms with its copies freed at once). Detaching the buffer
 * (`ArrayBuffer.prototype.transfer`) frees it on the spot, while it is still warm.
 */
export function releaseNow(data: unknown): void {
  if (!ArrayBuffer.isView(data) || data.byteLength === 0 || data.buffer instanceof SharedArrayBuffer) return;
  const buffer = data.buffer as ArrayBuffer & { transfer?(length: number): ArrayBuffer };
  if (data.byteOffset === 0 && data.byteLength === buffer.byteLength) buffer.transfer?.(0);
}

/** What a session says about one input: its name and, for tensors, its shape (symbolic dims as strings). */
export interface InputShape {
  name: string;
  shape?: ReadonlyArray<number | string>;
}

/**
 * Whether an export takes several sequences per call: the first axis of the encoder's
 * `input_features` and of every decoder tensor input (`input_ids`, `encoder_hidden_states`,
 * `past_key_values.*`) is symbolic (`batch_size` in optimum's exports) or -1. An export with
 * a fixed batch of 1 decodes one sequence per call.
 */
export function hasDynamicBatch(encoderInputs: readonly InputShape[], decoderInputs: readonly InputShape[]): boolean {
  const batched = (input: InputShape | undefined) => {
    const first = input?.shape?.[0];
    return first !== undefined && (typeof first === 'string' || first < 0);
  };
  const features = encoderInputs.find((input) => input.name === 'input_features');
  const tensors = decoderInputs.filter((input) => input.name === 'input_ids' || input.name === 'encoder_hidden_states' || input.name.startsWith('past_key_values.'));
  return batched(features) && tensors.length > 0 && tensors.every(batched);
}

export class WhisperSessions {
  readonly #ort: Ort;
  readonly encoder: Session;
  readonly decoder: Session;
  readonly featureType: string;
  readonly hiddenType: string;
  readonly cacheType: string;
  readonly hasUseCacheBranch: boolean;
  readonly hasCrossAttentions: boolean;
  /** The export's batch axis is dynamic: several windows per encoder run and decoder step. */
  readonly dynamicBatch: boolean;
  readonly layers: number;
  readonly heads: number;
  readonly headSize: number;
  readonly #cacheNames: string[];
  readonly #crossBuffers: CrossCacheBuffers;
  readonly #picker: GreedyPicker;

  private constructor(ort: Ort, encoder: Session, decoder: Session, picker: GreedyPicker) {
    this.#ort = ort;
    this.encoder = encoder;
    this.decoder = decoder;
    this.#picker = picker;
    const encoderInput = encoder.inputMetadata.find((item) => item.name === 'input_features');
    this.featureType = encoderInput && encoderInput.isTensor ? encoderInput.type : 'float32';
    const metadata = new Map(decoder.inputMetadata.map((item) => [item.name, item]));
    const hidden = metadata.get('encoder_hidden_states');
    this.hiddenType = hidden && hidden.isTensor ? hidden.type : 'float32';
    this.#cacheNames = decoder.inputNames.filter((name) => name.startsWith('past_key_values.'));
    this.#crossBuffers = new CrossCacheBuffers(this.#cacheNames.filter((name) => name.includes('.encoder.')), CROSS_BUFFERS_IDLE_MS);
    if (this.#cacheNames.length === 0) {
      throw new Error(`the decoder has no past_key_values inputs (inputs: ${decoder.inputNames.join(', ')}); use an export with decoder_model_merged.onnx`);
    }
    const first = metadata.get('past_key_values.0.decoder.key');
    if (!first || !first.isTensor) throw new Error('the decoder has no past_key_values.0.decoder.key input');
    this.cacheType = first.type;
    const [, heads, , headSize] = first.shape;
    if (typeof heads !== 'number' || typeof headSize !== 'number') {
      throw new Error(`past_key_values.0.decoder.key has symbolic heads or head size (${JSON.stringify(first.shape)})`);
    }
    this.heads = heads;
    this.headSize = headSize;
    this.layers = this.#cacheNames.filter((name) => name.endsWith('.decoder.key')).length;
    this.hasUseCacheBranch = decoder.inputNames.includes('use_cache_branch');
    this.hasCrossAttentions = decoder.outputNames.includes('cross_attentions.0');
    const shapes = (session: Session): InputShape[] =>
      session.inputMetadata.map((item) => ({ name: item.name, shape: item.isTensor ? item.shape : undefined }));
    this.dynamicBatch = hasDynamicBatch(shapes(encoder), shapes(decoder));
  }

  static async create(ort: Ort, encoderPath: string, decoderPath: string, settings: SessionSettings): Promise<WhisperSessions> {
    const options: OnnxRuntime.InferenceSession.SessionOptions = {
      executionProviders: [settings.executionProvider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      intraOpNumThreads: settings.threads ?? defaultInferenceThreads(),
    };
    const created: Array<{ release(): Promise<void> }> = [];
    try {
      const encoder = await ort.InferenceSession.create(encoderPath, options);
      created.push(encoder);
      const decoder = await ort.InferenceSession.create(decoderPath, options);
      created.push(decoder);
      const picker = await GreedyPicker.create(ort);
      return new WhisperSessions(ort, encoder, decoder, picker);
    } catch (error) {
      await Promise.allSettled(created.map((session) => session.release()));
      throw error;
    }
  }

  async release(): Promise<void> {
    this.#crossBuffers.clear();
    await Promise.allSettled([this.encoder.release(), this.decoder.release(), this.#picker.release()]);
  }

  /**
   * The greedy token and its log-probability for every row of a step's logits
   * (`[batch, length, vocabulary]`, each row's last position), filtered in place before.
   */
  pickGreedy(logits: Float32Array, batch: number, length: number, vocabulary: number): Promise<GreedyChoice> {
    return this.#picker.pick(logits, batch, length, vocabulary);
  }

  /** Encoder output for one window: features `[melBins, frames]` → tensor `[1, positions, d]`. */
  async encode(features: Float32Array, melBins: number, frames: number): Promise<Tensor> {
    const data = this.featureType === 'float16' ? float32ToFloat16(features) : features;
    const input = makeTensor(this.#ort, this.featureType, data, [1, melBins, frames]);
    const output = await this.encoder.run({ input_features: input });
    const hidden = output.last_hidden_state ?? Object.values(output)[0]!;
    if (hidden.type !== this.hiddenType) {
      // An fp32 encoder with an fp16 decoder (or the other way round), as mixed exports have.
      const values = toFloat32(hidden);
      return makeTensor(this.#ort, this.hiddenType, this.hiddenType === 'float16' ? float32ToFloat16(values) : values, hidden.dims);
    }
    return feedable(this.#ort, hidden);
  }

  /**
   * Encoder output for several windows in one run: features `[melBins, frames]` each →
   * one tensor `[1, positions, d]` per window (rows are independent: each equals what
   * {@link encode} gives for that window alone).
   */
  async encodeBatch(features: readonly Float32Array[], melBins: number, frames: number): Promise<Tensor[]> {
    if (features.length === 1) return [await this.encode(features[0]!, melBins, frames)];
    const size = melBins * frames;
    const stacked = new Float32Array(size * features.length);
    features.forEach((window, index) => stacked.set(window, index * size));
    const data = this.featureType === 'float16' ? float32ToFloat16(stacked) : stacked;
    const output = await this.encoder.run({ input_features: makeTensor(this.#ort, this.featureType, data, [features.length, melBins, frames]) });
    let hidden = output.last_hidden_state ?? Object.values(output)[0]!;
    if (hidden.type !== this.hiddenType) {
      const values = toFloat32(hidden);
      hidden = makeTensor(this.#ort, this.hiddenType, this.hiddenType === 'float16' ? float32ToFloat16(values) : values, hidden.dims);
    }
    const rows = features.map((_, index) => this.selectRows(hidden, [index]));
    releaseNow(hidden.data);
    return rows;
  }

  /** Rows `rows` of the batch axis of `tensor`, in that order, as a new tensor. */
  selectRows(tensor: Tensor, rows: readonly number[]): Tensor {
    const data = feedable(this.#ort, tensor).data as Float32Array;
    const rowSize = data.length / tensor.dims[0]!;
    const out = new (data.constructor as Float32ArrayConstructor)(rowSize * rows.length);
    rows.forEach((row, index) => out.set(data.subarray(row * rowSize, (row + 1) * rowSize), index * rowSize));
    return makeTensor(this.#ort, tensor.type, out, [rows.length, ...tensor.dims.slice(1)]);
  }

  /** Tensors of equal shape `[1, …]` (or `[n, …]`) stacked along the batch axis. */
  stack(tensors: readonly Tensor[]): Tensor {
    if (tensors.length === 1) return tensors[0]!;
    const parts = tensors.map((tensor) => feedable(this.#ort, tensor).data as Float32Array);
    const out = new (parts[0]!.constructor as Float32ArrayConstructor)(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    const rows = tensors.reduce((sum, tensor) => sum + tensor.dims[0]!, 0);
    return makeTensor(this.#ort, tensors[0]!.type, out, [rows, ...tensors[0]!.dims.slice(1)]);
  }

  /**
   * Keeps batch rows `rows` of every cache entry, the encoder ones included (sequences
   * leaving a batch); entries in `kept` have been narrowed already (in place, see
   * {@link CrossCacheRows.keep}).
   */
  selectCacheRows(cache: KeyValueCache, rows: readonly number[], kept?: KeyValueCache): KeyValueCache {
    const next: KeyValueCache = new Map();
    for (const [name, tensor] of cache) next.set(name, kept?.get(name) ?? this.selectRows(tensor, rows));
    return next;
  }

  /**
   * Frees the self-attention keys and values of `cache` now ({@link releaseNow}): for a
   * cache that a later step has replaced and nothing else holds. The encoder entries, which
   * steps pass on from one to the next, are left alone.
   */
  releaseSelfAttention(cache: KeyValueCache): void {
    for (const [name, tensor] of cache) if (!name.includes('.encoder.')) releaseNow(tensor.data);
  }

  /** Bytes of the cross-attention keys and values of one sequence (what a batch holds per row). */
  crossCacheBytes(encoderPositions: number): number {
    const element = this.cacheType === 'float16' ? 2 : 4;
    return 2 * this.layers * this.heads * this.headSize * encoderPositions * element;
  }

  /** Repeats the batch row of `tensor` `count` times (beam search starts from one row). */
  tile(tensor: Tensor, count: number): Tensor {
    if (count === 1) return tensor;
    const data = feedable(this.#ort, tensor).data as Float32Array;
    const tiled = new (data.constructor as Float32ArrayConstructor)(data.length * count);
    for (let copy = 0; copy < count; copy++) tiled.set(data, copy * data.length);
    return makeTensor(this.#ort, tensor.type, tiled, [count, ...tensor.dims.slice(1)]);
  }

  /** Reorders the batch rows of the self-attention cache (beam search). */
  reorderCache(cache: KeyValueCache, rows: readonly number[]): KeyValueCache {
    const next: KeyValueCache = new Map();
    for (const [name, tensor] of cache) {
      if (name.includes('.encoder.')) {
        next.set(name, tensor);
        continue;
      }
      const data = feedable(this.#ort, tensor).data as Float32Array;
      const rowSize = data.length / tensor.dims[0]!;
      const out = new (data.constructor as Float32ArrayConstructor)(rowSize * rows.length);
      rows.forEach((row, index) => out.set(data.subarray(row * rowSize, (row + 1) * rowSize), index * rowSize));
      next.set(name, makeTensor(this.#ort, tensor.type, out, [rows.length, ...tensor.dims.slice(1)]));
    }
    return next;
  }

  /** Empty pasts for the first step: `[batch, heads, 0, headSize]`. */
  emptyCache(batch: number): KeyValueCache {
    const cache: KeyValueCache = new Map();
    for (const name of this.#cacheNames) {
      const empty = this.cacheType === 'float16' ? new Uint16Array(0) : new Float32Array(0);
      cache.set(name, makeTensor(this.#ort, this.cacheType, empty, [batch, this.heads, 0, this.headSize]));
    }
    return cache;
  }

  /**
   * The stacked cross-attention cache of a batch of `rows` windows (`[rows, heads,
   * positions, headSize]` per `past_key_values.*.encoder.*` name), in buffers kept from the
   * last batch ({@link CrossCacheBuffers}), with each row's view of them (`[1, heads,
   * positions, headSize]` by `present.*` name) for {@link step}'s `into`: the prompt steps of
   * a batch, run one window at a time, write their keys and values straight into the
   * batch's tensors, not into new ones copied there afterwards (37 MB per row for base).
   * Undefined for float16 caches, which are stacked by copy.
   */
  crossCacheRows(rows: number, encoderPositions: number): CrossCacheRows | undefined {
    if (this.cacheType !== 'float32') return undefined;
    const rowSize = this.heads * encoderPositions * this.headSize;
    const lease = this.#crossBuffers.lease(rows, rowSize);
    const dims = (count: number) => [count, this.heads, encoderPositions, this.headSize];
    const view = (count: number): KeyValueCache => {
      const cache: KeyValueCache = new Map();
      for (const [name, buffer] of lease.buffers) cache.set(name, new this.#ort.Tensor('float32', buffer.subarray(0, count * rowSize), dims(count)));
      return cache;
    };
    const rowViews = Array.from({ length: rows }, (_, row) => {
      const views = new Map<string, Tensor>();
      for (const [name, buffer] of lease.buffers) {
        views.set(name.replace('past_key_values', 'present'), new this.#ort.Tensor('float32', buffer.subarray(row * rowSize, (row + 1) * rowSize), dims(1)));
      }
      return views;
    });
    return {
      stacked: view(rows),
      rowViews,
      keep: (staying) => {
        for (const buffer of lease.buffers.values()) keepRowsInPlace(buffer, rowSize, staying);
        return view(staying.length);
      },
      release: lease.release,
    };
  }

  /**
   * One decoder call. Without `cache` it is the first step (no-cache branch). Returns the
   * cache for the next step: new self-attention keys/values, and the encoder ones of the
   * first step kept. Outputs named in `into` are written into its tensors.
   */
  async step(
    tokens: readonly number[],
    batch: number,
    encoderHidden: Tensor,
    cache: KeyValueCache | undefined,
    wantCrossAttentions: boolean,
    into?: ReadonlyMap<string, Tensor>,
  ): Promise<DecoderStepResult> {
    const length = tokens.length / batch;
    const feeds: Record<string, Tensor> = {
      input_ids: new this.#ort.Tensor('int64', BigInt64Array.from(tokens, (token) => BigInt(token)), [batch, length]),
      encoder_hidden_states: feedable(this.#ort, encoderHidden),
    };
    const past = cache ?? this.emptyCache(batch);
    for (const name of this.#cacheNames) feeds[name] = feedable(this.#ort, past.get(name)!);
    if (this.hasUseCacheBranch) feeds.use_cache_branch = new this.#ort.Tensor('bool', Uint8Array.of(cache ? 1 : 0), [1]);
    const wanted = this.decoder.outputNames.filter((name) => wantCrossAttentions || !name.startsWith('cross_attentions.'));
    // Outputs with a tensor in `into` are written there by onnxruntime (the others it allocates).
    const fetches: Record<string, Tensor | null> = {};
    for (const name of wanted) fetches[name] = into?.get(name) ?? null;
    const output = await this.decoder.run(feeds, fetches);
    // The binding hands back a copy of each output written into `into`: only the tensors in `into` are used.
    if (into) for (const name of into.keys()) releaseNow(output[name]?.data);
    const next: KeyValueCache = new Map();
    for (const name of this.#cacheNames) {
      const presentName = name.replace('past_key_values', 'present');
      const present = into?.get(presentName) ?? output[presentName];
      // On the cached branch the encoder presents are empty placeholders: keep the first step's.
      if (name.includes('.encoder.') && cache) next.set(name, cache.get(name)!);
      else next.set(name, present!);
    }
    const logitsTensor = output.logits!;
    const result: DecoderStepResult = {
      logits: toFloat32(logitsTensor),
      batch,
      length,
      vocabulary: logitsTensor.dims[2]!,
      cache: next,
    };
    if (wantCrossAttentions && this.hasCrossAttentions) {
      result.crossAttentions = [];
      for (let layer = 0; ; layer++) {
        const tensor = output[`cross_attentions.${layer}`];
        if (!tensor) break;
        result.crossAttentions.push({ data: toFloat32(tensor), dims: tensor.dims });
      }
    }
    return result;
  }
}
