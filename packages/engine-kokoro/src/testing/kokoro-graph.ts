/**
 * A small ONNX graph with Kokoro's interface and random weights, written with onnx-proto.
 *
 * It is not a speech model. It embeds the token ids, adds a projection of the style
 * vector, squashes, projects to four frames per token and holds each frame for
 * floor(300 / speed) samples under a sine carrier. So the output length follows the
 * token count and the speed the way Kokoro's does, and every sample depends on the ids
 * and on the style row: enough to check that an engine feeds the model exactly what the
 * reference implementation feeds it. Optional wide layers per token give the model a
 * cost per second of audio, for benchmarks.
 */
import { DataType, encodeModel, GraphBuilder, SeededWeights } from '@talkies/testkit';
import { KOKORO_TOKEN_COUNT } from '../phoneme-vocabulary.js';

export interface KokoroGraphOptions {
  /** Name of the token-id input (`input_ids` in the onnx-community export, `tokens` in others). */
  tokensName: string;
  /** Name of the waveform output (`waveform`, or `audio`). */
  outputName: string;
  /** `[1, samples]` (onnx-community) or `[samples]`. */
  outputRank: 1 | 2;
  /** Element type of the `speed` input; some exports take int32. */
  speedType: 'float32' | 'int32';
  /** Seed of the random weights. */
  seed: number;
  /** Width of the token embedding (default 16). */
  hiddenSize?: number;
  /**
   * Extra hidden × hidden layers per token, all with the same weights (default 0). With a
   * wide hidden size they give the model a cost per token, hence per second of audio, like
   * the real model's, for benchmarks, in a small file.
   */
  layers?: number;
}

/** Samples per frame at speed 1, and frames per token. */
export const SAMPLES_PER_FRAME = 300;
export const FRAMES_PER_TOKEN = 4;

/** The serialised ModelProto (IR 8, opset 17). */
export function buildKokoroGraph(options: KokoroGraphOptions): Uint8Array {
  const hidden = options.hiddenSize ?? 16;
  const weights = new SeededWeights(options.seed);
  const graph = new GraphBuilder();
  const tokens = graph.input(options.tokensName, DataType.INT64, [1, 'sequence_length']);
  const style = graph.input('style', DataType.FLOAT, [1, 256]);
  const speedInput = graph.input('speed', options.speedType === 'int32' ? DataType.INT32 : DataType.FLOAT, [1]);
  const random = (hint: string, dims: number[], limit: number) =>
    graph.float(hint, dims, weights.floats(dims.reduce((product, dim) => product * dim, 1), limit));

  const embedding = random('embedding', [KOKORO_TOKEN_COUNT, hidden], 1);
  const styleProjection = random('style_projection', [256, hidden], 0.5);
  const frameProjection = random('frame_projection', [hidden, FRAMES_PER_TOKEN], 1);
  const embedded = graph.op('Gather', [embedding, tokens], { axis: { int: 0 } });
  const styleHidden = graph.op('MatMul', [style, styleProjection]);
  let hiddenState = graph.op('Tanh', [graph.op('Add', [embedded, styleHidden])]);
  const layers = options.layers ?? 0;
  // One weight matrix for every layer: the cost of many layers in the file size of one.
  if (layers > 0) {
    const layerWeight = random('layer_weight', [hidden, hidden], 1.5 / Math.sqrt(hidden));
    for (let layer = 0; layer < layers; layer++) hiddenState = graph.op('Tanh', [graph.op('MatMul', [hiddenState, layerWeight])]);
  }
  const frames = graph.op('MatMul', [hiddenState, frameProjection]);
  const frameLevel = graph.op('Tanh', [graph.op('Reshape', [frames, graph.int64('column_shape', [-1, 1])])]);
  const speed = options.speedType === 'int32' ? graph.op('Cast', [speedInput], { to: { int: DataType.FLOAT } }) : speedInput;
  const hopVector = graph.op('Floor', [graph.op('Div', [graph.float('samples_per_frame', [1], [SAMPLES_PER_FRAME]), speed])]);
  const hop = graph.op('Reshape', [hopVector, graph.int64('scalar_shape', [], [0])]);
  const positions = graph.op('Range', [graph.scalar('zero', 0), hop, graph.scalar('one', 1)]);
  const carrier = graph.op('Sin', [graph.op('Mul', [positions, graph.scalar('carrier_step', 0.2)])]);
  const scaled = graph.op('Mul', [graph.op('Mul', [frameLevel, carrier]), graph.scalar('gain', 0.5)]);
  const outputShape = graph.int64('output_shape', options.outputRank === 2 ? [1, -1] : [-1]);
  const waveform = graph.op('Reshape', [scaled, outputShape]);
  graph.output(options.outputName, waveform, DataType.FLOAT, options.outputRank === 2 ? [1, 'num_samples'] : ['num_samples']);
  return encodeModel(graph.graph('kokoro_fixture'), 'talkies-engine-kokoro-fixtures');
}
