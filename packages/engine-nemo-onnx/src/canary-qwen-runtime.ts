/**
 * The heavy half of canary-qwen-2.5b (NeMo SALM), imported by `load()` only. No public ONNX
 * export of it exists, so talkies defines a split layout (docs/canary-qwen-onnx.md):
 *
 * - `encoder-model.onnx`: the FastConformer encoder and the projection into the LLM's width,
 *   `audio_signal` f32 `[B, 128, T]`, `length` i64 `[B]` → `encoder_embeddings` f32
 *   `[B, T', H]`, `encoded_lengths` i64 `[B]`;
 * - `embed-tokens.onnx`: Qwen3's token embedding, `input_ids` i64 `[B, L]` → `inputs_embeds`
 *   f32 `[B, L, H]`;
 * - `decoder-model.onnx`: Qwen3-1.7B with the LoRA merged, in optimum's KV-cache form:
 *   `inputs_embeds`, `attention_mask` i64 `[B, past + L]`, `position_ids` i64 `[B, L]`,
 *   `past_key_values.{i}.key|value` f32 `[B, kv heads, past, head dim]` → `logits` f32
 *   `[B, L, V]`, `present.{i}.key|value`;
 * - `config.json` (`model_type: "nemo-salm"`, the placeholder id) and, from the entry's
 *   `dependencies` repository, Qwen3's `tokenizer.json`.
 *
 * The prompt is NeMo's `qwen` format: `<|im_start|>user\nTranscribe the following:
 * <|audioplaceholder|><|im_end|>\n<|im_start|>assistant\n`, where the one placeholder row is
 * replaced by every encoder frame. Greedy decoding stops at `<|im_end|>` or `<|endoftext|>`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { joinSamples, type TranscribeRequest, type TranscriptionResult } from '@talkies/core';
import type { NemoOptions } from './engine-options.js';
import { graphFile } from './model-files.js';
import { NemoLogMel } from './nemo-log-mel.js';
import { createSessions, inputShape, loadOrt, requireNames, type Ort, type Session, type Tensor } from './onnx-sessions.js';
import { QwenTokenizer, type TokenizerJson } from './qwen-tokenizer.js';

const configSchema = z
  .object({
    model_type: z.string().optional(),
    features_size: z.number().int().min(1).max(257).default(128),
    /** `<|audioplaceholder|>`: NeMo adds it to Qwen's tokenizer as id 151669. */
    audio_locator_id: z.number().int().min(0).default(151669),
    /** The user turn before the audio (the model card's prompt). */
    prompt: z.string().default('Transcribe the following: '),
    max_sequence_length: z.number().int().min(16).max(1_000_000).default(1024),
  })
  .passthrough();

export const CANARY_QWEN_TEMPLATE = (prompt: string) => ['<|im_start|>', `user\n${prompt}`, null, '<|im_end|>', '\n', '<|im_start|>', 'assistant\n'] as const;

export interface CanaryQwenDecoded {
  tokens: number[];
  logprob: number;
  /** Rows fed on each decoder call (for tests). */
  calls?: number[];
}

export class CanaryQwenModel {
  readonly #ort: Ort;
  readonly encoder: Session;
  readonly embedTokens: Session;
  readonly decoder: Session;
  readonly tokenizer: QwenTokenizer;
  readonly frontEnd: NemoLogMel;
  readonly placeholder: number;
  readonly stops: Set<number>;
  readonly maxSequenceLength: number;
  readonly #prompt: string;
  readonly #layers: number;
  readonly #cacheShape: [number, number];

  private constructor(ort: Ort, sessions: Session[], tokenizer: QwenTokenizer, config: z.output<typeof configSchema>, options: NemoOptions) {
    this.#ort = ort;
    [this.encoder, this.embedTokens, this.decoder] = sessions as [Session, Session, Session];
    this.tokenizer = tokenizer;
    this.frontEnd = new NemoLogMel(config.features_size);
    this.placeholder = config.audio_locator_id;
    this.#prompt = config.prompt;
    this.maxSequenceLength = options.maxSequenceLength ?? config.max_sequence_length;
    requireNames(this.encoder, 'encoder-model.onnx', ['audio_signal', 'length'], ['encoder_embeddings', 'encoded_lengths']);
    requireNames(this.embedTokens, 'embed-tokens.onnx', ['input_ids'], ['inputs_embeds']);
    requireNames(this.decoder, 'decoder-model.onnx', ['inputs_embeds', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value'], ['logits', 'present.0.key', 'present.0.value']);
    this.#layers = this.decoder.inputNames.filter((name) => /^past_key_values\.\d+\.key$/.test(name)).length;
    const [, heads, , headSize] = inputShape(this.decoder, 'past_key_values.0.key', { batch: 1, past_sequence_length: 0 }, [1, Number.NaN, 0, Number.NaN]);
    if (!Number.isInteger(heads) || !Number.isInteger(headSize)) throw new Error('past_key_values.0.key does not declare its heads and head size');
    this.#cacheShape = [heads!, headSize!];
    const stops = ['<|im_end|>', '<|endoftext|>'].map((token) => tokenizer.special(token)).filter((id): id is number => id !== undefined);
    if (stops.length === 0) throw new Error('tokenizer.json has neither <|im_end|> nor <|endoftext|>');
    this.stops = new Set(stops);
  }

  static async load(modelDir: string, options: NemoOptions): Promise<CanaryQwenModel> {
    const configText = await readFile(join(modelDir, 'config.json'), 'utf8');
    const parsed = configSchema.safeParse(JSON.parse(configText));
    if (!parsed.success) throw new Error(`config.json is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    const tokenizer = new QwenTokenizer(JSON.parse(await readFile(join(modelDir, 'tokenizer.json'), 'utf8')) as TokenizerJson);
    const ort = await loadOrt();
    const sessions = await createSessions(
      ort,
      ['encoder-model', 'embed-tokens', 'decoder-model'].map((name) => join(modelDir, graphFile(name, options.precision))),
      { threads: options.threads, executionProvider: options.executionProvider },
    );
    try {
      return new CanaryQwenModel(ort, sessions, tokenizer, parsed.data, options);
    } catch (error) {
      await Promise.allSettled(sessions.map((session) => session.release()));
      throw error;
    }
  }

  async release(): Promise<void> {
    await Promise.allSettled([this.encoder.release(), this.embedTokens.release(), this.decoder.release()]);
  }

  /** The prompt's ids, with the placeholder id where the audio goes. */
  promptIds(): number[] {
    return CANARY_QWEN_TEMPLATE(this.#prompt).flatMap((part) => (part === null ? [this.placeholder] : this.tokenizer.encode(part)));
  }

  async #embed(ids: readonly number[]): Promise<Float32Array> {
    const ort = this.#ort;
    const output = await this.embedTokens.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]) });
    return output.inputs_embeds!.data as Float32Array;
  }

  /** Encoder rows `[T', H]` for the valid frames. */
  async encode(audio: Float32Array): Promise<{ rows: Float32Array; frames: number; width: number } | undefined> {
    const features = this.frontEnd.compute(audio);
    if (features.frames === 0) return undefined;
    const ort = this.#ort;
    const output = await this.encoder.run({
      audio_signal: new ort.Tensor('float32', features.data, [1, features.melBins, features.frames]),
      length: new ort.Tensor('int64', BigInt64Array.of(BigInt(features.frames)), [1]),
    });
    const embeddings = output.encoder_embeddings!;
    const [, total, width] = embeddings.dims as [number, number, number];
    const frames = Math.min(total, Number((output.encoded_lengths!.data as BigInt64Array)[0]));
    return { rows: (embeddings.data as Float32Array).slice(0, frames * width), frames, width };
  }

  /**
   * Greedy decoding: the spliced prompt first (prefill), then one token per call with the KV
   * cache. `useCache: false` feeds every row again on each call (tests compare the two).
   */
  async decode(audio: { rows: Float32Array; frames: number; width: number }, prompt: readonly number[], options: { signal?: AbortSignal; useCache?: boolean; recordCalls?: boolean } = {}): Promise<CanaryQwenDecoded> {
    const ort = this.#ort;
    const useCache = options.useCache ?? true;
    const at = prompt.indexOf(this.placeholder);
    if (at < 0) throw new Error('the prompt has no audio placeholder');
    // NeMo sets the placeholder's id to 0 before embedding; its row is replaced anyway.
    const embedded = await this.#embed(prompt.map((id) => (id === this.placeholder ? 0 : id)));
    const width = audio.width;
    const rows: Float32Array[] = [];
    rows.push(embedded.subarray(0, at * width), audio.rows, embedded.subarray((at + 1) * width));
    let sequence = joinSamples(rows);
    let total = sequence.length / width;
    const [heads, headSize] = this.#cacheShape;
    const empty = () => new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headSize]);
    let cache = new Map<string, Tensor>();
    for (let layer = 0; layer < this.#layers; layer++) {
      cache.set(`past_key_values.${layer}.key`, empty());
      cache.set(`past_key_values.${layer}.value`, empty());
    }
    let feed = sequence;
    let past = 0;
    const tokens: number[] = [];
    const calls: number[] = [];
    let logprob = 0;
    while (total < this.maxSequenceLength) {
      options.signal?.throwIfAborted();
      const length = feed.length / width;
      if (options.recordCalls) calls.push(length);
      const output = await this.decoder.run({
        inputs_embeds: new ort.Tensor('float32', feed, [1, length, width]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(past + length).fill(1n), [1, past + length]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from({ length }, (_, index) => BigInt(past + index)), [1, length]),
        ...Object.fromEntries(cache),
      });
      const logits = output.logits!;
      const vocabulary = logits.dims.at(-1)!;
      const data = logits.data as Float32Array;
      const last = data.subarray(data.length - vocabulary);
      let best = 0;
      for (let index = 1; index < vocabulary; index++) if (last[index]! > last[best]!) best = index;
      if (this.stops.has(best)) break;
      let normaliser = 0;
      for (let index = 0; index < vocabulary; index++) normaliser += Math.exp(last[index]! - last[best]!);
      logprob -= Math.log(normaliser);
      tokens.push(best);
      const next = await this.#embed([best]);
      total++;
      if (useCache) {
        const presents = new Map<string, Tensor>();
        for (let layer = 0; layer < this.#layers; layer++) {
          presents.set(`past_key_values.${layer}.key`, output[`present.${layer}.key`]!);
          presents.set(`past_key_values.${layer}.value`, output[`present.${layer}.value`]!);
        }
        cache = presents;
        past += length;
        feed = next;
      } else {
        sequence = joinSamples([sequence, next]);
        feed = sequence;
      }
    }
    return options.recordCalls ? { tokens, logprob, calls } : { tokens, logprob };
  }

  async transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    const duration = request.audio.length / request.sampleRate;
    const audio = await this.encode(request.audio);
    if (!audio) return { text: '', language: 'en', segments: [], words: [] };
    const decoded = await this.decode(audio, this.promptIds(), { signal: request.signal });
    const text = this.tokenizer.decode(decoded.tokens).trim();
    return {
      text,
      language: 'en',
      // No timestamps from the LLM: one segment over the piece of audio, no words.
      segments: text === '' ? [] : [{
        id: 0, seek: 0, start: 0, end: Math.round(duration * 1000) / 1000, text: ' ' + text, tokens: decoded.tokens, temperature: 0,
        avg_logprob: decoded.tokens.length > 0 ? decoded.logprob / decoded.tokens.length : 0, compression_ratio: null, no_speech_prob: null,
      }],
      words: [],
    };
  }
}

