/**
 * The first {@link Qwen3Runtime}: onnxruntime-node sessions, CPU provider by default or
 * the CUDA provider where configured. The talker's KV cache stays in the tensors the
 * session returned and goes straight back in as the next run's past, so no step copies
 * it. Runs inside the generation worker (never on the server's event loop).
 *
 * Tensor names are those of the split export (see model-layout.ts); the talker's cache
 * outputs are accepted as `present_key_{i}` or `new_past_key_{i}`, and a `cache_position`
 * input is fed when the decode graph has one.
 */
import type { InferenceSession, Tensor as TensorType } from 'onnxruntime-node';
import type { GraphName } from './model-layout.js';
import type { Qwen3Runtime, TalkerStep } from './runtime.js';

type Ort = typeof import('onnxruntime-node');

export interface OrtRuntimeOptions {
  paths: Partial<Record<GraphName, string>>;
  sessionOptions: InferenceSession.SessionOptions;
}

function last(data: Float32Array, width: number): Float32Array {
  return data.slice(data.length - width);
}

function cacheIndex(name: string): { kind: 'key' | 'value'; layer: number } | undefined {
  const match = /(?:present|new_past|past)_?(key|value)s?[._]?(\d+)$/.exec(name);
  return match ? { kind: match[1] as 'key' | 'value', layer: Number(match[2]) } : undefined;
}

export class OrtRuntime implements Qwen3Runtime {
  readonly hiddenSize: number;
  readonly layers: number;
  /** Session runs so far, for diagnostics and the benchmark. */
  runs = 0;
  readonly #ort: Ort;
  readonly #sessions: Partial<Record<GraphName, InferenceSession>>;
  readonly #pastNames: Array<{ key: string; value: string }>;
  readonly #presentNames: Array<{ key: string; value: string }>;
  readonly #prefillPresentNames: Array<{ key: string; value: string }>;
  #cache: Array<{ key: TensorType; value: TensorType }> = [];
  #length = 0;

  private constructor(ort: Ort, sessions: Partial<Record<GraphName, InferenceSession>>, hiddenSize: number) {
    this.#ort = ort;
    this.#sessions = sessions;
    this.hiddenSize = hiddenSize;
    const decode = sessions.talkerDecode!;
    const pairs = (names: readonly string[]) => {
      const found: Array<{ key?: string; value?: string }> = [];
      for (const name of names) {
        const index = cacheIndex(name);
        if (!index) continue;
        found[index.layer] ??= {};
        found[index.layer]![index.kind] = name;
      }
      if (found.some((pair) => !pair?.key || !pair.value) || found.length === 0) {
        throw new Error(`the talker graphs' cache tensors are not paired by layer: ${names.join(', ')}`);
      }
      return found as Array<{ key: string; value: string }>;
    };
    this.#pastNames = pairs(decode.inputNames);
    this.#presentNames = pairs(decode.outputNames);
    this.#prefillPresentNames = pairs(sessions.talkerPrefill!.outputNames);
    this.layers = this.#pastNames.length;
  }

  static async open(options: OrtRuntimeOptions): Promise<OrtRuntime> {
    const ort = await import('onnxruntime-node');
    const sessions: Partial<Record<GraphName, InferenceSession>> = {};
    try {
      for (const [name, path] of Object.entries(options.paths) as Array<[GraphName, string]>) {
        sessions[name] = await ort.InferenceSession.create(path, options.sessionOptions);
      }
      for (const required of ['textProject', 'codecEmbed', 'predictorEmbed', 'talkerPrefill', 'talkerDecode', 'predictor', 'codecDecode'] as const) {
        if (!sessions[required]) throw new Error(`no ${required} graph was given`);
      }
      const probe = await sessions.codecEmbed!.run({ input_ids: new ort.Tensor('int64', BigInt64Array.of(0n), [1, 1]) });
      const hiddenSize = (probe.embeds ?? Object.values(probe)[0]!).dims.at(-1)!;
      return new OrtRuntime(ort, sessions, hiddenSize);
    } catch (error) {
      await Promise.all(Object.values(sessions).map((session) => session.release().catch(() => undefined)));
      throw error;
    }
  }

  #ids(ids: readonly number[]): TensorType {
    return new this.#ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length]);
  }

  async #run(name: GraphName, feeds: Record<string, TensorType>, outputs?: string[]): Promise<InferenceSession.ReturnType> {
    const session = this.#sessions[name];
    if (!session) throw new Error(`this model has no ${name} graph`);
    this.runs++;
    return outputs ? session.run(feeds, outputs) : session.run(feeds);
  }

  async #embed(name: GraphName, feeds: Record<string, TensorType>): Promise<Float32Array> {
    const result = await this.#run(name, feeds);
    const tensor = result.embeds ?? Object.values(result)[0]!;
    return tensor.data as Float32Array;
  }

  embedText(ids: readonly number[]): Promise<Float32Array> {
    return this.#embed('textProject', { input_ids: this.#ids(ids) });
  }

  embedCodec(ids: readonly number[]): Promise<Float32Array> {
    return this.#embed('codecEmbed', { input_ids: this.#ids(ids) });
  }

  embedPredictorCode(code: number, group: number): Promise<Float32Array> {
    return this.#embed('predictorEmbed', {
      input_ids: this.#ids([code]),
      generation_step: new this.#ort.Tensor('int64', BigInt64Array.of(BigInt(group)), [1]),
    });
  }

  #mask(length: number): TensorType {
    return new this.#ort.Tensor('int64', new BigInt64Array(length).fill(1n), [1, length]);
  }

  #step(result: InferenceSession.ReturnType, names: Array<{ key: string; value: string }>): TalkerStep {
    this.#cache = names.map((pair) => ({ key: result[pair.key]!, value: result[pair.value]! }));
    const logits = result.logits!;
    const vocab = logits.dims.at(-1)!;
    return { logits: last(logits.data as Float32Array, vocab), hidden: last(result.last_hidden!.data as Float32Array, this.hiddenSize) };
  }

  async talkerPrefill(embeds: Float32Array, length: number): Promise<TalkerStep> {
    const session = this.#sessions.talkerPrefill!;
    const feeds: Record<string, TensorType> = {
      inputs_embeds: new this.#ort.Tensor('float32', embeds, [1, length, this.hiddenSize]),
    };
    if (session.inputNames.includes('attention_mask')) feeds.attention_mask = this.#mask(length);
    const result = await this.#run('talkerPrefill', feeds);
    this.#length = length;
    return this.#step(result, this.#prefillPresentNames);
  }

  async talkerDecode(embed: Float32Array): Promise<TalkerStep> {
    if (this.#cache.length === 0) throw new Error('talkerDecode before talkerPrefill');
    const session = this.#sessions.talkerDecode!;
    const feeds: Record<string, TensorType> = {
      inputs_embeds: new this.#ort.Tensor('float32', embed, [1, 1, this.hiddenSize]),
    };
    if (session.inputNames.includes('attention_mask')) feeds.attention_mask = this.#mask(this.#length + 1);
    if (session.inputNames.includes('cache_position')) feeds.cache_position = new this.#ort.Tensor('int64', BigInt64Array.of(BigInt(this.#length)), [1]);
    this.#pastNames.forEach((pair, layer) => {
      feeds[pair.key] = this.#cache[layer]!.key;
      feeds[pair.value] = this.#cache[layer]!.value;
    });
    const result = await this.#run('talkerDecode', feeds);
    this.#length++;
    return this.#step(result, this.#presentNames);
  }

  async predictorLogits(embeds: Float32Array, length: number, group: number): Promise<Float32Array> {
    const result = await this.#run('predictor', {
      inputs_embeds: new this.#ort.Tensor('float32', embeds.slice(0, length * this.hiddenSize), [1, length, this.hiddenSize]),
      generation_step: new this.#ort.Tensor('int64', BigInt64Array.of(BigInt(group)), [1]),
    });
    const logits = result.logits!;
    return last(logits.data as Float32Array, logits.dims.at(-1)!);
  }

  async decodeCodes(codes: Int32Array, frames: number): Promise<Float32Array> {
    const groups = codes.length / frames;
    const result = await this.#run('codecDecode', {
      audio_codes: new this.#ort.Tensor('int64', BigInt64Array.from(codes, (code) => BigInt(code)), [1, frames, groups]),
    });
    const audio = (result.audio_values ?? Object.values(result)[0]!).data as Float32Array;
    const length = result.lengths ? Number((result.lengths.data as BigInt64Array)[0]) : audio.length;
    return audio.slice(0, Math.min(length, audio.length));
  }

  async speakerEmbedding(mel: Float32Array, frames: number): Promise<Float32Array> {
    const session = this.#sessions.speakerEncoder;
    if (!session) throw new Error('this model has no speaker encoder');
    const result = await this.#run('speakerEncoder', { [session.inputNames[0]!]: new this.#ort.Tensor('float32', mel, [1, frames, mel.length / frames]) });
    return Float32Array.from(result[session.outputNames[0]!]!.data as Float32Array);
  }

  async encodeAudio(samples: Float32Array): Promise<{ codes: Int32Array; frames: number }> {
    const session = this.#sessions.codecEncode;
    if (!session) throw new Error('this model has no codec encoder');
    const result = await this.#run('codecEncode', { [session.inputNames[0]!]: new this.#ort.Tensor('float32', samples, [1, samples.length]) });
    const tensor = result.audio_codes ?? result[session.outputNames[0]!]!;
    const frames = tensor.dims[1]!;
    return { codes: Int32Array.from(tensor.data as BigInt64Array, (code) => Number(code)), frames };
  }

  async release(): Promise<void> {
    this.#cache = [];
    await Promise.all(Object.values(this.#sessions).map((session) => session.release().catch(() => undefined)));
  }
}
