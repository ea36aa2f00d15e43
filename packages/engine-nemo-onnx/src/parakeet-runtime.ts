/**
 * The heavy half of the Parakeet TDT engine, imported by `load()` only: the encoder and
 * decoder-joint sessions of an onnx-asr export, the front end, and greedy TDT decoding.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TranscribeRequest, TranscriptionResult } from '@talkies/core';
import type { NemoOptions } from './engine-options.js';
import { graphFile } from './model-files.js';
import { parseModelConfig, type NemoModelConfig } from './nemo-model-config.js';
import { NemoLogMel } from './nemo-log-mel.js';
import { NemoVocabulary } from './nemo-vocabulary.js';
import { createSessions, inputShape, loadOrt, requireNames, type Ort, type Session, type Tensor } from './onnx-sessions.js';
import { decodeTdt, decodeTdtBatch, type TdtBatchSequence, type TdtToken } from './tdt-decoder.js';
import { timeTokens, transducerResult, type TimedToken } from './transducer-result.js';

export interface EncodedAudio {
  /** `[frames, dimension]`, one row per encoder frame. */
  rows: Float32Array;
  dimension: number;
  frames: number;
}

export class ParakeetModel {
  readonly #ort: Ort;
  readonly encoder: Session;
  readonly decoderJoint: Session;
  readonly config: NemoModelConfig;
  readonly vocabulary: NemoVocabulary;
  readonly frontEnd: NemoLogMel;
  readonly blank: number;
  readonly maxTokensPerStep: number;
  readonly #stateShapes: [number[], number[]];

  private constructor(ort: Ort, encoder: Session, decoderJoint: Session, config: NemoModelConfig, vocabulary: NemoVocabulary, options: NemoOptions) {
    this.#ort = ort;
    this.encoder = encoder;
    this.decoderJoint = decoderJoint;
    this.config = config;
    this.vocabulary = vocabulary;
    this.frontEnd = new NemoLogMel(config.melBins);
    if (vocabulary.blank === undefined) throw new Error('vocab.txt has no <blk> token, which a transducer needs');
    this.blank = vocabulary.blank;
    this.maxTokensPerStep = options.maxTokensPerStep ?? config.maxTokensPerStep;
    requireNames(encoder, 'encoder-model.onnx', ['audio_signal', 'length'], ['outputs', 'encoded_lengths']);
    requireNames(
      decoderJoint, 'decoder_joint-model.onnx',
      ['encoder_outputs', 'targets', 'target_length', 'input_states_1', 'input_states_2'],
      ['outputs', 'output_states_1', 'output_states_2'],
    );
    // NeMo's prediction network: 2 LSTM layers of 640 for Parakeet TDT 0.6B; read from the graph when declared.
    const fallback = [2, 1, 640];
    this.#stateShapes = [
      inputShape(decoderJoint, 'input_states_1', {}, fallback).map((size, index) => (index === 1 ? 1 : size)),
      inputShape(decoderJoint, 'input_states_2', {}, fallback).map((size, index) => (index === 1 ? 1 : size)),
    ];
  }

  static async load(modelDir: string, options: NemoOptions): Promise<ParakeetModel> {
    const config = parseModelConfig(await readFile(join(modelDir, 'config.json'), 'utf8'));
    const vocabulary = new NemoVocabulary(await readFile(join(modelDir, 'vocab.txt'), 'utf8'));
    const ort = await loadOrt();
    const [encoder, decoderJoint] = await createSessions(
      ort,
      [join(modelDir, graphFile('encoder-model', options.precision)), join(modelDir, graphFile('decoder_joint-model', options.precision))],
      { threads: options.threads, executionProvider: options.executionProvider },
    );
    try {
      return new ParakeetModel(ort, encoder!, decoderJoint!, config, vocabulary, options);
    } catch (error) {
      await Promise.allSettled([encoder!.release(), decoderJoint!.release()]);
      throw error;
    }
  }

  async release(): Promise<void> {
    await Promise.allSettled([this.encoder.release(), this.decoderJoint.release()]);
  }

  /** Features `[melBins, frames]` → encoder rows `[frames', dimension]` (the valid frames only). */
  async encode(features: Float32Array, frames: number): Promise<EncodedAudio> {
    const ort = this.#ort;
    const output = await this.encoder.run({
      audio_signal: new ort.Tensor('float32', features, [1, this.config.melBins, frames]),
      length: new ort.Tensor('int64', BigInt64Array.of(BigInt(frames)), [1]),
    });
    const encoded = output.outputs!;
    const [, dimension, total] = encoded.dims as [number, number, number];
    const valid = Math.min(total, Number((output.encoded_lengths!.data as BigInt64Array)[0]));
    const data = encoded.data as Float32Array;
    const rows = new Float32Array(valid * dimension);
    for (let channel = 0; channel < dimension; channel++) {
      const from = channel * total;
      for (let frame = 0; frame < valid; frame++) rows[frame * dimension + channel] = data[from + frame]!;
    }
    for (const tensor of Object.values(output)) tensor.dispose?.();
    return { rows, dimension, frames: valid };
  }

  /** Greedy TDT decoding of encoded audio. */
  async decode(encoded: EncodedAudio, signal?: AbortSignal): Promise<TdtToken[]> {
    const ort = this.#ort;
    const { rows, dimension } = encoded;
    const length = new ort.Tensor('int32', Int32Array.of(1), [1]);
    const zeros = (shape: number[]) => new ort.Tensor('float32', new Float32Array(shape.reduce((product, size) => product * size, 1)), shape);
    return decodeTdt<[Tensor, Tensor]>({
      frames: encoded.frames,
      vocabularySize: this.vocabulary.size,
      blank: this.blank,
      maxTokensPerStep: this.maxTokensPerStep,
      initialState: [zeros(this.#stateShapes[0]), zeros(this.#stateShapes[1])],
      signal,
      step: async (frame, lastToken, [first, second]) => {
        const output = await this.decoderJoint.run({
          encoder_outputs: new ort.Tensor('float32', rows.slice(frame * dimension, (frame + 1) * dimension), [1, dimension, 1]),
          targets: new ort.Tensor('int32', Int32Array.of(lastToken), [1, 1]),
          target_length: length,
          input_states_1: first,
          input_states_2: second,
        });
        return { logits: output.outputs!.data as Float32Array, state: [output.output_states_1!, output.output_states_2!] };
      },
    });
  }

  /** Front end, encoder and greedy decoding: every emitted token with its frame, duration and times. */
  async timedTokens(audio: Float32Array, signal?: AbortSignal): Promise<TimedToken[]> {
    const features = this.frontEnd.compute(audio);
    if (features.frames === 0) return [];
    signal?.throwIfAborted();
    const encoded = await this.encode(features.data, features.frames);
    const tokens = await this.decode(encoded, signal);
    return timeTokens(tokens, encoded.frames, this.config.frameSeconds);
  }

  async transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    const timed = await this.timedTokens(request.audio, request.signal);
    return transducerResult(timed, this.vocabulary, { language: request.language, timestamps: request.timestamps });
  }

  /**
   * Several pieces at once: each piece's front end and encoder run on their own (a padded
   * batch would change the encoder's last frames on exports that do not mask padding), then
   * greedy TDT steps every piece still decoding in one decoder-joint call (the export's
   * batch dimension), each with its own frame, last token and prediction-network state.
   * Each piece settles as soon as it is decoded, with the result `transcribe()` gives it;
   * an aborted piece leaves the batch alone.
   */
  transcribeBatch(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>> {
    const settlers: Array<{ resolve: (result: TranscriptionResult) => void; reject: (error: unknown) => void }> = [];
    const promises = requests.map(
      () => new Promise<TranscriptionResult>((resolve, reject) => settlers.push({ resolve, reject })),
    );
    void this.#decodeBatch(requests, settlers).catch((error: unknown) => {
      for (const settler of settlers) settler.reject(error);
    });
    return promises;
  }

  async #decodeBatch(
    requests: readonly TranscribeRequest[],
    settlers: ReadonlyArray<{ resolve: (result: TranscriptionResult) => void; reject: (error: unknown) => void }>,
  ): Promise<void> {
    const [layers1, , size1] = this.#stateShapes[0] as [number, number, number];
    const [layers2, , size2] = this.#stateShapes[1] as [number, number, number];
    const sequences: Array<TdtBatchSequence<[Float32Array, Float32Array]>> = [];
    const encodedRows: Float32Array[] = [];
    let dimension = 0;
    for (const [index, request] of requests.entries()) {
      const settler = settlers[index]!;
      const finish = (tokens: TdtToken[], frames: number) =>
        transducerResult(timeTokens(tokens, frames, this.config.frameSeconds), this.vocabulary, { language: request.language, timestamps: request.timestamps });
      try {
        request.signal.throwIfAborted();
        const features = this.frontEnd.compute(request.audio);
        if (features.frames === 0) {
          settler.resolve(finish([], 0));
          continue;
        }
        const encoded = await this.encode(features.data, features.frames);
        dimension = encoded.dimension;
        encodedRows[sequences.length] = encoded.rows;
        sequences.push({
          frames: encoded.frames,
          initialState: [new Float32Array(layers1 * size1), new Float32Array(layers2 * size2)],
          signal: request.signal,
          settle: (outcome) => {
            if ('error' in outcome) settler.reject(outcome.error);
            else settler.resolve(finish(outcome.tokens, encoded.frames));
          },
        });
      } catch (error) {
        settler.reject(error);
      }
    }
    if (sequences.length === 0) return;
    const ort = this.#ort;
    await decodeTdtBatch<[Float32Array, Float32Array]>({
      sequences,
      vocabularySize: this.vocabulary.size,
      blank: this.blank,
      maxTokensPerStep: this.maxTokensPerStep,
      step: async (rows, frames, lastTokens, states) => {
        const batch = rows.length;
        const frameRows = new Float32Array(batch * dimension);
        rows.forEach((sequence, row) => {
          frameRows.set(encodedRows[sequence]!.subarray(frames[row]! * dimension, (frames[row]! + 1) * dimension), row * dimension);
        });
        // [layers, batch, size]: row `row` of layer `layer` is that sequence's layer.
        const stack = (layers: number, size: number, pick: (state: [Float32Array, Float32Array]) => Float32Array) => {
          const data = new Float32Array(layers * batch * size);
          states.forEach((state, row) => {
            const own = pick(state);
            for (let layer = 0; layer < layers; layer++) data.set(own.subarray(layer * size, (layer + 1) * size), (layer * batch + row) * size);
          });
          return new ort.Tensor('float32', data, [layers, batch, size]);
        };
        const output = await this.decoderJoint.run({
          encoder_outputs: new ort.Tensor('float32', frameRows, [batch, dimension, 1]),
          targets: new ort.Tensor('int32', Int32Array.from(lastTokens), [batch, 1]),
          target_length: new ort.Tensor('int32', new Int32Array(batch).fill(1), [batch]),
          input_states_1: stack(layers1, size1, (state) => state[0]),
          input_states_2: stack(layers2, size2, (state) => state[1]),
        });
        const unstack = (tensor: Tensor, layers: number, size: number, row: number) => {
          const data = tensor.data as Float32Array;
          const own = new Float32Array(layers * size);
          for (let layer = 0; layer < layers; layer++) own.set(data.subarray((layer * batch + row) * size, (layer * batch + row + 1) * size), layer * size);
          return own;
        };
        const next = rows.map((_, row): [Float32Array, Float32Array] => [
          unstack(output.output_states_1!, layers1, size1, row),
          unstack(output.output_states_2!, layers2, size2, row),
        ]);
        const logits = (output.outputs!.data as Float32Array).slice();
        for (const tensor of Object.values(output)) tensor.dispose?.();
        return { logits, states: next };
      },
    });
  }
}
