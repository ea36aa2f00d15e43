/**
 * Generated Parakeet TDT graphs with the tensor names and shapes of the onnx-asr exports
 * (NeMo `model.export()`):
 *
 * - `encoder-model.onnx`: `audio_signal` f32 `[B, F, T]`, `length` i64 `[B]` → `outputs` f32
 *   `[B, D, T']`, `encoded_lengths` i64 `[B]`. Three stride-2 convolutions, so T' is T/2 rounded
 *   up three times, as FastConformer's 8× subsampling gives.
 * - `decoder_joint-model.onnx`: `encoder_outputs` f32 `[B, D, 1]`, `targets` i32 `[B, 1]`,
 *   `target_length` i32 `[B]`, `input_states_1` / `input_states_2` f32 `[2, B, 640]` →
 *   `outputs` f32 `[B, 1, 1, V + 1 + 5]` (token logits with the blank last, then five duration
 *   logits), `output_states_1`, `output_states_2`.
 *
 * The prediction network is a small recurrent cell rather than NeMo's LSTM (which would make
 * the files megabytes for nothing): its state still depends on every emitted token, so a
 * decoder that updates it at the wrong time produces different tokens.
 */
import { DataType, GraphBuilder, SeededWeights, encodeModel } from '@talkies/testkit';
import { WeightWriter, type StoredPrecision } from './weights.js';
import { externaliseInitializers } from './external-data.js';

export interface TdtArchitecture {
  melBins: number;
  /** Encoder output width (1024 in v2/v3). */
  encoderDimension: number;
  /** Hidden channels of the subsampling convolutions. */
  subsamplingChannels: number;
  /** Extra width-preserving convolution blocks after subsampling (compute for benchmarks). */
  encoderBlocks: number;
  /** Token classes including the blank. */
  vocabularySize: number;
  durations: number;
  /** LSTM state width the graph accepts (parakeet.js hard-codes 640). */
  stateSize: number;
  /** Width of the recurrent cell and of the joint. */
  predictionSize: number;
  jointSize: number;
  /** Added to the blank logit and to each duration logit: shapes how much is emitted. */
  blankBias: number;
  durationBias: readonly number[];
  /** Added to chosen token logits (e.g. sentence punctuation, so that segments end). */
  tokenBias?: Readonly<Record<number, number>>;
  seed: number;
}

const { FLOAT, INT32, INT64 } = DataType;

export function tdtEncoder(architecture: TdtArchitecture, precision: StoredPrecision, externalData?: string): { model: Uint8Array; data?: Uint8Array } {
  const { melBins, encoderDimension: width, subsamplingChannels: channels, seed } = architecture;
  const graph = new GraphBuilder();
  const weights = new WeightWriter(graph, new SeededWeights(seed * 7919 + 1), precision);
  const signal = graph.input('audio_signal', FLOAT, ['batch', melBins, 'time']);
  const length = graph.input('length', INT64, ['batch']);
  let hidden = signal;
  let inputChannels = melBins;
  const stages = [channels, channels, width];
  for (const [index, outputChannels] of stages.entries()) {
    const kernel = weights.weight(`subsampling_${index}`, [outputChannels, inputChannels, 3], Math.sqrt(3 / (inputChannels * 3)) * 1.6);
    const bias = graph.float(`subsampling_${index}_bias`, [outputChannels], new SeededWeights(seed + index).floats(outputChannels, 0.1));
    hidden = graph.op('Conv', [hidden, kernel, bias], { strides: { ints: [2] }, pads: { ints: [1, 1] }, kernel_shape: { ints: [3] } });
    hidden = graph.op('Tanh', [hidden]);
    inputChannels = outputChannels;
  }
  for (let block = 0; block < architecture.encoderBlocks; block++) {
    const kernel = weights.weight(`block_${block}`, [width, width, 3], Math.sqrt(3 / (width * 3)));
    const convolved = graph.op('Conv', [hidden, kernel], { pads: { ints: [1, 1] }, kernel_shape: { ints: [3] } });
    hidden = graph.op('Add', [hidden, graph.op('Tanh', [convolved])]);
  }
  graph.output('outputs', hidden, FLOAT, ['batch', width, 'encoded_time']);
  // ceil(L / 2), three times: (L + 1) / 2 in integer division.
  let lengths = length;
  const one = graph.int64('one', [1], []);
  const two = graph.int64('two', [2], []);
  for (let index = 0; index < 3; index++) lengths = graph.op('Div', [graph.op('Add', [lengths, one]), two]);
  graph.output('encoded_lengths', lengths, INT64, ['batch']);
  const data = externalData ? externaliseInitializers(graph, externalData) : undefined;
  return { model: encodeModel(graph.graph('parakeet_encoder'), 'talkies fixtures (NeMo export layout)'), data };
}

export function tdtDecoderJoint(architecture: TdtArchitecture, precision: StoredPrecision): Uint8Array {
  const { encoderDimension: width, vocabularySize, durations, stateSize, predictionSize, jointSize, seed } = architecture;
  const graph = new GraphBuilder();
  const random = new SeededWeights(seed * 104729 + 2);
  const weights = new WeightWriter(graph, random, precision);
  const encoderOutputs = graph.input('encoder_outputs', FLOAT, ['batch', width, 1]);
  const targets = graph.input('targets', INT32, ['batch', 1]);
  graph.input('target_length', INT32, ['batch']);
  const states1 = graph.input('input_states_1', FLOAT, [2, 'batch', stateSize]);
  const states2 = graph.input('input_states_2', FLOAT, [2, 'batch', stateSize]);

  const rows = (source: string, size: number) => graph.op('Reshape', [source, graph.int64('shape', [-1, size])]);
  const layer = (states: string, index: number) => rows(graph.op('Gather', [states, graph.int64('layer', [index], [])], { axis: { int: 0 } }), stateSize);

  // Prediction network: embedding of the last token and the previous state → new state.
  const embedding = weights.weight('embedding', [vocabularySize, predictionSize], 1);
  const embedded = rows(graph.op('Gather', [embedding, graph.op('Cast', [targets], { to: { int: INT64 } })], { axis: { int: 0 } }), predictionSize);
  const previousTop = layer(states1, 1);
  const previousCell = layer(states2, 0);
  const recurrent = graph.op('MatMul', [previousTop, weights.weight('recurrent', [stateSize, predictionSize], 2 / Math.sqrt(stateSize))]);
  const cellMix = graph.op('MatMul', [previousCell, weights.weight('cell_mix', [stateSize, predictionSize], 1 / Math.sqrt(stateSize))]);
  const cell = graph.op('Tanh', [graph.op('Add', [graph.op('Add', [embedded, recurrent]), cellMix])]);
  const expand = (name: string) => graph.op('Tanh', [graph.op('MatMul', [cell, weights.weight(name, [predictionSize, stateSize], 2 / Math.sqrt(predictionSize))])]);
  const stack = (first: string, second: string) =>
    graph.op('Reshape', [graph.op('Concat', [first, second], { axis: { int: 0 } }), graph.int64('state_shape', [2, -1, stateSize])]);
  const newBottom = expand('hidden_0');
  const newTop = expand('hidden_1');
  const half = graph.scalar('half', 0.5);
  const newCell0 = graph.op('Add', [graph.op('Mul', [previousCell, half]), graph.op('Mul', [newBottom, half])]);
  const newCell1 = graph.op('Add', [graph.op('Mul', [layer(states2, 1), half]), graph.op('Mul', [newTop, half])]);
  graph.output('output_states_1', stack(newBottom, newTop), FLOAT, [2, 'batch', stateSize]);
  graph.output('output_states_2', stack(newCell0, newCell1), FLOAT, [2, 'batch', stateSize]);

  // Joint: encoder frame and prediction → token and duration logits.
  const frame = rows(encoderOutputs, width);
  const encoderPart = graph.op('MatMul', [frame, weights.weight('joint_encoder', [width, jointSize], 2.5 / Math.sqrt(width))]);
  const predictionPart = graph.op('MatMul', [cell, weights.weight('joint_prediction', [predictionSize, jointSize], 2.5 / Math.sqrt(predictionSize))]);
  const joint = graph.op('Relu', [graph.op('Add', [encoderPart, predictionPart])]);
  const outputs = vocabularySize + durations;
  const bias = new Float32Array(outputs);
  bias[vocabularySize - 1] = architecture.blankBias;
  for (const [token, value] of Object.entries(architecture.tokenBias ?? {})) bias[Number(token)] = value;
  for (let index = 0; index < durations; index++) bias[vocabularySize + index] = architecture.durationBias[index] ?? 0;
  const logits = graph.op('Add', [
    graph.op('MatMul', [joint, weights.weight('joint_output', [jointSize, outputs], 3 / Math.sqrt(jointSize))]),
    graph.float('joint_bias', [outputs], bias),
  ]);
  graph.output('outputs', graph.op('Reshape', [logits, graph.int64('output_shape', [-1, 1, 1, outputs])]), FLOAT, ['batch', 1, 1, outputs]);
  return encodeModel(graph.graph('parakeet_decoder_joint'), 'talkies fixtures (NeMo export layout)');
}
