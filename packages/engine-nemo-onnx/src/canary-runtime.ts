/**
 * The heavy half of the Canary (AED) engine, imported by `load()` only: the encoder and the
 * decoder of an onnx-asr `nemo-conformer-aed` export, and greedy decoding with the
 * `decoder_mems` cache.
 *
 * Decoder protocol (onnx-asr `NemoConformerAED`): the first call takes the whole prompt and
 * empty mems `[M, 1, 0, d]`; each later call takes only the last token and the previous
 * call's `decoder_hidden_states` as mems. `logits` are log-softmaxed, for the last position.
 * Canary has no timestamps of its own: a result is one segment spanning the audio it was
 * given, so segment times come from the pieces the server's VAD chunker cuts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelEntry, TranscribeRequest, TranscriptionResult } from '@talkies/core';
import { canaryPrompt } from './canary-prompt.js';
import type { NemoOptions } from './engine-options.js';
import { graphFile } from './model-files.js';
import { parseModelConfig, type NemoModelConfig } from './nemo-model-config.js';
import { NemoLogMel } from './nemo-log-mel.js';
import { NemoVocabulary } from './nemo-vocabulary.js';
import { createSessions, inputShape, loadOrt, requireNames, type Ort, type Session, type Tensor } from './onnx-sessions.js';

export interface CanaryEncoded {
  embeddings: Tensor;
  mask: Tensor;
}

export interface CanaryDecoded {
  /** Generated ids, end of text excluded. */
  tokens: number[];
  /** Sum of the chosen tokens' log-probabilities. */
  logprob: number;
  /** The ids of every decoder call, in order (for tests and debugging). */
  calls?: number[][];
}

export interface CanaryLanguages {
  source: string;
  target: string;
}

export class CanaryModel {
  readonly #ort: Ort;
  readonly encoder: Session;
  readonly decoder: Session;
  readonly config: NemoModelConfig;
  readonly vocabulary: NemoVocabulary;
  readonly frontEnd: NemoLogMel;
  readonly endOfText: number;
  readonly #memsShape: [number, number];
  readonly #options: NemoOptions;
  readonly #entry: ModelEntry;

  private constructor(ort: Ort, encoder: Session, decoder: Session, config: NemoModelConfig, vocabulary: NemoVocabulary, options: NemoOptions, entry: ModelEntry) {
    this.#ort = ort;
    this.encoder = encoder;
    this.decoder = decoder;
    this.config = config;
    this.vocabulary = vocabulary;
    this.#options = options;
    this.#entry = entry;
    this.frontEnd = new NemoLogMel(config.melBins);
    requireNames(encoder, 'encoder-model.onnx', ['audio_signal', 'length'], ['encoder_embeddings', 'encoder_mask']);
    requireNames(decoder, 'decoder-model.onnx', ['input_ids', 'encoder_embeddings', 'encoder_mask', 'decoder_mems'], ['logits', 'decoder_hidden_states']);
    const endOfText = vocabulary.id('<|endoftext|>');
    if (endOfText === undefined) throw new Error('vocab.txt has no <|endoftext|>');
    this.endOfText = endOfText;
    // [M, batch, mems, d]: M (layers + 2) and d are fixed in the export.
    const [layers, , , width] = inputShape(decoder, 'decoder_mems', { batch: 1 }, [Number.NaN, 1, 0, Number.NaN]);
    if (!Number.isInteger(layers) || !Number.isInteger(width)) throw new Error('decoder_mems does not declare its layer count and width');
    this.#memsShape = [layers!, width!];
  }

  static async load(modelDir: string, options: NemoOptions, entry: ModelEntry): Promise<CanaryModel> {
    const config = parseModelConfig(await readFile(join(modelDir, 'config.json'), 'utf8'));
    const vocabulary = new NemoVocabulary(await readFile(join(modelDir, 'vocab.txt'), 'utf8'));
    const ort = await loadOrt();
    const [encoder, decoder] = await createSessions(
      ort,
      [join(modelDir, graphFile('encoder-model', options.precision)), join(modelDir, graphFile('decoder-model', options.precision))],
      { threads: options.threads, executionProvider: options.executionProvider },
    );
    try {
      return new CanaryModel(ort, encoder!, decoder!, config, vocabulary, options, entry);
    } catch (error) {
      await Promise.allSettled([encoder!.release(), decoder!.release()]);
      throw error;
    }
  }

  async release(): Promise<void> {
    await Promise.allSettled([this.encoder.release(), this.decoder.release()]);
  }

  /** Source and target language of a request: `language`, the entry's defaults, and the task. */
  languages(request: Pick<TranscribeRequest, 'language' | 'task'>): CanaryLanguages {
    const entry = this.#entry;
    const source = request.language ?? entry.default_source_lang ?? 'en';
    if (request.task === 'translate') return { source, target: 'en' };
    const translating = entry.default_task === 's2t_translation';
    return { source, target: translating ? (entry.default_target_lang ?? 'en') : source };
  }

  async encode(audio: Float32Array): Promise<CanaryEncoded | undefined> {
    const features = this.frontEnd.compute(audio);
    if (features.frames === 0) return undefined;
    const ort = this.#ort;
    const output = await this.encoder.run({
      audio_signal: new ort.Tensor('float32', features.data, [1, features.melBins, features.frames]),
      length: new ort.Tensor('int64', BigInt64Array.of(BigInt(features.frames)), [1]),
    });
    return { embeddings: output.encoder_embeddings!, mask: output.encoder_mask! };
  }

  /**
   * Greedy decoding from `prompt` until end of text or `maxSequenceLength` ids (prompt
   * included). `useCache: false` feeds the whole sequence with empty mems on every call
   * instead of the last token and the mems (slower; tests compare the two).
   */
  async decode(encoded: CanaryEncoded, prompt: readonly number[], options: { signal?: AbortSignal; useCache?: boolean; recordCalls?: boolean } = {}): Promise<CanaryDecoded> {
    const ort = this.#ort;
    const useCache = options.useCache ?? true;
    const [layers, width] = this.#memsShape;
    const limit = this.#options.maxSequenceLength ?? this.config.maxSequenceLength;
    const emptyMems = () => new ort.Tensor('float32', new Float32Array(0), [layers, 1, 0, width]);
    const sequence = [...prompt];
    const tokens: number[] = [];
    const calls: number[][] = [];
    let mems: Tensor = emptyMems();
    let feed: number[] = sequence;
    let logprob = 0;
    while (sequence.length < limit) {
      options.signal?.throwIfAborted();
      if (options.recordCalls) calls.push([...feed]);
      const output = await this.decoder.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from(feed, BigInt), [1, feed.length]),
        encoder_embeddings: encoded.embeddings,
        encoder_mask: encoded.mask,
        decoder_mems: mems,
      });
      const logits = output.logits!;
      const data = logits.data as Float32Array;
      const vocabulary = logits.dims.at(-1)!;
      const last = data.subarray(data.length - vocabulary);
      let best = 0;
      for (let index = 1; index < vocabulary; index++) if (last[index]! > last[best]!) best = index;
      if (best === this.endOfText) break;
      logprob += last[best]!;
      tokens.push(best);
      sequence.push(best);
      if (useCache) {
        mems = output.decoder_hidden_states!;
        feed = [best];
      } else {
        feed = sequence;
      }
    }
    return options.recordCalls ? { tokens, logprob, calls } : { tokens, logprob };
  }

  async transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    const { source, target } = this.languages(request);
    const prompt = canaryPrompt(this.vocabulary, { sourceLanguage: source, targetLanguage: target, punctuation: this.#options.pnc });
    const duration = request.audio.length / request.sampleRate;
    const encoded = await this.encode(request.audio);
    if (!encoded) return { text: '', language: source, segments: [], words: [] };
    const decoded = await this.decode(encoded, prompt, { signal: request.signal });
    const text = this.vocabulary.decode(decoded.tokens);
    const spoken = decoded.tokens.filter((token) => !this.vocabulary.isSpecial(token));
    return {
      text,
      // The spoken language, as OpenAI's translations and the Python talkies report it.
      language: source,
      segments: text === '' ? [] : [{
        id: 0, seek: 0, start: 0, end: Math.round(duration * 1000) / 1000, text: ' ' + text, tokens: spoken, temperature: 0,
        avg_logprob: decoded.tokens.length > 0 ? decoded.logprob / decoded.tokens.length : 0, compression_ratio: null, no_speech_prob: null,
      }],
      words: [],
    };
  }
}
