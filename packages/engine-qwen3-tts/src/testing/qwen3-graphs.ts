/**
 * Small ONNX graphs with the interface of the split Qwen3-TTS export (file names, tensor
 * names, ranks and the real special-token ids), random weights, written with the shared
 * fixture toolkit. They are not a speech model, but they have the properties the engine
 * relies on, so invariants can be checked on them:
 *
 * - the talker is a real causal transformer (sinusoidal positions from the attention
 *   mask's length, attention with a KV cache, an MLP), in a prefill graph without past and
 *   a decode graph with past, sharing weights: a cached run must equal the uncached one;
 * - the code predictor attends over its growing input and picks its head by
 *   `generation_step`;
 * - the codec decoder is causal with a receptive field of {@link CODEC_RECEPTIVE_FRAMES}
 *   frames and {@link SAMPLES_PER_FRAME} samples per frame, like the real one's 1920;
 * - `codec_eos` becomes certain once the talker's position passes `eosAfter`, so
 *   generation ends by itself as a real model's does.
 */
import { DataType, encodeModel, GraphBuilder, SeededWeights } from '@talkies/testkit';

export const SAMPLES_PER_FRAME = 1920;
export const CODEC_RECEPTIVE_FRAMES = 3;
export const TEXT_BUCKETS = 1009;

export interface Qwen3GraphOptions {
  seed: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  talkerVocab: number;
  codebookSize: number;
  codeGroups: number;
  codecEos: number;
  /** The talker position after which codec_eos wins. */
  eosAfter: number;
  /** Width of the toy codec decoder. */
  codecWidth?: number;
  /** Predictor layers (default 1). */
  predictorLayers?: number;
}

type Random = (hint: string, dims: number[], limit: number) => string;

function randomizer(graph: GraphBuilder, weights: SeededWeights): Random {
  return (hint, dims, limit) => graph.float(hint, dims, weights.floats(dims.reduce((product, dim) => product * dim, 1), limit));
}

/** Scalar int64 length of axis `axis` of `tensor`. */
function dimension(graph: GraphBuilder, tensor: string, axis: number): string {
  return graph.op('Gather', [graph.op('Shape', [tensor]), graph.int64(`axis_${axis}`, [axis], [])], { axis: { int: 0 } });
}

function unsqueeze(graph: GraphBuilder, tensor: string, axes: number[]): string {
  return graph.op('Unsqueeze', [tensor, graph.int64('axes', axes)]);
}

interface LayerWeights {
  norm1: [string, string];
  norm2: [string, string];
  q: string;
  k: string;
  v: string;
  o: string;
  up: string;
  down: string;
}

function layerWeights(graph: GraphBuilder, random: Random, hidden: number): LayerWeights {
  const ones = graph.float('norm_scale', [hidden], new Float32Array(hidden).fill(1));
  const zeros = graph.float('norm_bias', [hidden], new Float32Array(hidden));
  const limit = 1.2 / Math.sqrt(hidden);
  return {
    norm1: [ones, zeros],
    norm2: [ones, zeros],
    q: random('wq', [hidden, hidden], limit),
    k: random('wk', [hidden, hidden], limit),
    v: random('wv', [hidden, hidden], limit),
    // A strong attention output: what the talker says depends on the whole prompt, not only on its last input.
    o: random('wo', [hidden, hidden], 4 / Math.sqrt(hidden)),
    up: random('w_up', [hidden, 2 * hidden], limit),
    down: random('w_down', [2 * hidden, hidden], limit / 1.4),
  };
}

/**
 * A causal decoder stack over `x` [1, T, H] whose positions are `start … total-1`.
 * With `past`, each layer's keys and values are appended to the given ones. Returns the
 * final hidden states and every layer's full keys and values.
 */
function decoderStack(
  graph: GraphBuilder,
  layers: LayerWeights[],
  x: string,
  options: { hidden: number; heads: number; start: string; total: string; past?: Array<{ key: string; value: string }> },
): { hidden: string; cache: Array<{ key: string; value: string }> } {
  const { hidden, heads } = options;
  const headDim = hidden / heads;
  const one = graph.int64('one', [1], []);
  const zero = graph.int64('zero', [0], []);
  // Sinusoidal positions: the talker's position is its place in the whole sequence.
  const positions = graph.op('Range', [options.start, options.total, one]);
  const frequencies = graph.float('frequencies', [1, hidden], Array.from({ length: hidden }, (_, index) => 1 / 10000 ** (index / hidden)));
  const angles = graph.op('Mul', [unsqueeze(graph, graph.op('Cast', [positions], { to: { int: DataType.FLOAT } }), [1]), frequencies]);
  let state = graph.op('Add', [x, graph.op('Mul', [graph.op('Sin', [angles]), graph.scalar('position_gain', 0.3)])]);
  // Causal mask [T, total]: a query at position p sees keys at positions ≤ p.
  const keyPositions = unsqueeze(graph, graph.op('Range', [zero, options.total, one]), [0]);
  const future = graph.op('Greater', [keyPositions, unsqueeze(graph, positions, [1])]);
  const mask = graph.op('Where', [future, graph.scalar('masked', -1e9), graph.scalar('visible', 0)]);
  const splitHeads = graph.int64('split_heads', [1, -1, heads, headDim]);
  const mergeHeads = graph.int64('merge_heads', [1, -1, hidden]);
  const scale = graph.scalar('attention_scale', 1 / Math.sqrt(headDim));
  const cache: Array<{ key: string; value: string }> = [];
  layers.forEach((layer, index) => {
    const normed = graph.op('LayerNormalization', [state, ...layer.norm1], { axis: { int: -1 } });
    const project = (weight: string) =>
      graph.op('Transpose', [graph.op('Reshape', [graph.op('MatMul', [normed, weight]), splitHeads])], { perm: { ints: [0, 2, 1, 3] } });
    let key = project(layer.k);
    let value = project(layer.v);
    const past = options.past?.[index];
    if (past) {
      key = graph.op('Concat', [past.key, key], { axis: { int: 2 } });
      value = graph.op('Concat', [past.value, value], { axis: { int: 2 } });
    }
    cache.push({ key, value });
    const scores = graph.op('Mul', [graph.op('MatMul', [project(layer.q), graph.op('Transpose', [key], { perm: { ints: [0, 1, 3, 2] } })]), scale]);
    const weights = graph.op('Softmax', [graph.op('Add', [scores, mask])], { axis: { int: -1 } });
    const context = graph.op('Reshape', [graph.op('Transpose', [graph.op('MatMul', [weights, value])], { perm: { ints: [0, 2, 1, 3] } }), mergeHeads]);
    state = graph.op('Add', [state, graph.op('MatMul', [context, layer.o])]);
    const normed2 = graph.op('LayerNormalization', [state, ...layer.norm2], { axis: { int: -1 } });
    state = graph.op('Add', [state, graph.op('MatMul', [graph.op('Tanh', [graph.op('MatMul', [normed2, layer.up])]), layer.down])]);
  });
  return { hidden: state, cache };
}

/** The talker: `talker_prefill.onnx` (no past) or `talker_decode.onnx` (with past). Same seed, same weights. */
export function buildTalkerGraph(options: Qwen3GraphOptions, kind: 'prefill' | 'decode'): Uint8Array {
  const { hiddenSize: hidden, heads } = options;
  const headDim = hidden / heads;
  const weights = new SeededWeights(options.seed);
  const graph = new GraphBuilder();
  const random = randomizer(graph, weights);
  const layers = Array.from({ length: options.layers }, () => layerWeights(graph, random, hidden));
  const head = random('codec_head', [hidden, options.talkerVocab], 3 / Math.sqrt(hidden));
  const x = graph.input('inputs_embeds', DataType.FLOAT, [1, 'sequence_length', hidden]);
  const attentionMask = graph.input('attention_mask', DataType.INT64, [1, 'total_length']);
  const past =
    kind === 'decode'
      ? Array.from({ length: options.layers }, (_, index) => ({
          key: graph.input(`past_key_${index}`, DataType.FLOAT, [1, heads, 'past_length', headDim]),
          value: graph.input(`past_value_${index}`, DataType.FLOAT, [1, heads, 'past_length', headDim]),
        }))
      : undefined;
  const total = dimension(graph, attentionMask, 1);
  const start = graph.op('Sub', [total, dimension(graph, x, 1)]);
  const stack = decoderStack(graph, layers, x, { hidden, heads, start, total, past });
  let logits = graph.op('MatMul', [stack.hidden, head]);
  // codec_eos wins past `eosAfter`: Relu(position − eosAfter) × 1000 on its logit.
  const positions = graph.op('Cast', [graph.op('Range', [start, total, graph.int64('step', [1], [])])], { to: { int: DataType.FLOAT } });
  const late = graph.op('Relu', [graph.op('Sub', [positions, graph.scalar('eos_after', options.eosAfter)])]);
  const eosColumn = new Float32Array(options.talkerVocab);
  eosColumn[options.codecEos] = 1000;
  logits = graph.op('Add', [logits, graph.op('Mul', [unsqueeze(graph, late, [0, 2]), graph.float('eos_column', [1, 1, options.talkerVocab], eosColumn)])]);
  graph.output('logits', logits, DataType.FLOAT, [1, 'sequence_length', options.talkerVocab]);
  graph.output('last_hidden', stack.hidden, DataType.FLOAT, [1, 'sequence_length', hidden]);
  stack.cache.forEach((entry, index) => {
    graph.output(`present_key_${index}`, entry.key, DataType.FLOAT, [1, heads, 'total_length', headDim]);
    graph.output(`present_value_${index}`, entry.value, DataType.FLOAT, [1, heads, 'total_length', headDim]);
  });
  return encodeModel(graph.graph(`talker_${kind}`));
}

/** `code_predictor.onnx`: attends over `inputs_embeds`, logits from head `generation_step`. */
export function buildPredictorGraph(options: Qwen3GraphOptions): Uint8Array {
  const { hiddenSize: hidden, heads } = options;
  const weights = new SeededWeights(options.seed + 1);
  const graph = new GraphBuilder();
  const random = randomizer(graph, weights);
  const layers = Array.from({ length: options.predictorLayers ?? 1 }, () => layerWeights(graph, random, hidden));
  const heads15 = random('lm_heads', [options.codeGroups - 1, hidden, options.codebookSize], 3 / Math.sqrt(hidden));
  const x = graph.input('inputs_embeds', DataType.FLOAT, [1, 'sequence_length', hidden]);
  const step = graph.input('generation_step', DataType.INT64, [1]);
  const total = dimension(graph, x, 1);
  const stack = decoderStack(graph, layers, x, { hidden, heads, start: graph.int64('start', [0], []), total });
  const head = graph.op('Gather', [heads15, step], { axis: { int: 0 } });
  // Only the last position's logits, as the export returns them.
  const lastPosition = graph.op('Slice', [stack.hidden, graph.int64('last_start', [-1]), graph.int64('last_end', [2 ** 31 - 1]), graph.int64('last_axis', [1])]);
  graph.output('logits', graph.op('Reshape', [graph.op('MatMul', [lastPosition, head]), graph.int64('logits_shape', [1, options.codebookSize])]), DataType.FLOAT, [1, options.codebookSize]);
  return encodeModel(graph.graph('code_predictor'));
}

/** `text_project.onnx`: hashed text embedding (two small tables instead of 151k rows) and a projection. */
export function buildTextProjectGraph(options: Qwen3GraphOptions): Uint8Array {
  const hidden = options.hiddenSize;
  const graph = new GraphBuilder();
  const random = randomizer(graph, new SeededWeights(options.seed + 2));
  const ids = graph.input('input_ids', DataType.INT64, [1, 'sequence_length']);
  const buckets = graph.int64('buckets', [TEXT_BUCKETS], []);
  const low = graph.op('Gather', [random('text_low', [TEXT_BUCKETS, hidden], 1), graph.op('Mod', [ids, buckets])], { axis: { int: 0 } });
  const high = graph.op('Gather', [random('text_high', [160, hidden], 1), graph.op('Div', [ids, buckets])], { axis: { int: 0 } });
  const projected = graph.op('Tanh', [graph.op('MatMul', [graph.op('Add', [low, high]), random('text_projection', [hidden, hidden], 1 / Math.sqrt(hidden))])]);
  graph.output('embeds', projected, DataType.FLOAT, [1, 'sequence_length', hidden]);
  return encodeModel(graph.graph('text_project'));
}

/** `codec_embed.onnx`: the talker's codec embedding (codebook 0, control tokens, speakers). */
export function buildCodecEmbedGraph(options: Qwen3GraphOptions): Uint8Array {
  const graph = new GraphBuilder();
  const random = randomizer(graph, new SeededWeights(options.seed + 3));
  const ids = graph.input('input_ids', DataType.INT64, [1, 'sequence_length']);
  const table = random('codec_embedding', [options.talkerVocab, options.hiddenSize], 1);
  graph.output('embeds', graph.op('Gather', [table, ids], { axis: { int: 0 } }), DataType.FLOAT, [1, 'sequence_length', options.hiddenSize]);
  return encodeModel(graph.graph('codec_embed'));
}

/** `code_predictor_embed.onnx`: one embedding table per codebook 1–15, chosen by `generation_step`. */
export function buildPredictorEmbedGraph(options: Qwen3GraphOptions): Uint8Array {
  const graph = new GraphBuilder();
  const random = randomizer(graph, new SeededWeights(options.seed + 4));
  const ids = graph.input('input_ids', DataType.INT64, [1, 'sequence_length']);
  const step = graph.input('generation_step', DataType.INT64, [1]);
  const table = random('predictor_embeddings', [(options.codeGroups - 1) * options.codebookSize, options.hiddenSize], 1);
  const index = graph.op('Add', [ids, graph.op('Mul', [step, graph.int64('codebook', [options.codebookSize])])]);
  graph.output('embeds', graph.op('Gather', [table, index], { axis: { int: 0 } }), DataType.FLOAT, [1, 'sequence_length', options.hiddenSize]);
  return encodeModel(graph.graph('code_predictor_embed'));
}

/** `tokenizer12hz_decode.onnx`: codes [1, T, 16] → `audio_values` [1, T × 1920], `lengths` [1]; causal. */
export function buildCodecDecodeGraph(options: Qwen3GraphOptions): Uint8Array {
  const width = options.codecWidth ?? 8;
  const graph = new GraphBuilder();
  const random = randomizer(graph, new SeededWeights(options.seed + 5));
  const codes = graph.input('audio_codes', DataType.INT64, [1, 'frames', options.codeGroups]);
  const offsets = graph.int64('group_offsets', Array.from({ length: options.codeGroups }, (_, group) => group * options.codebookSize), [1, 1, options.codeGroups]);
  const embedded = graph.op('Gather', [random('codebooks', [options.codeGroups * options.codebookSize, width], 1), graph.op('Add', [codes, offsets])], { axis: { int: 0 } });
  const summed = graph.op('ReduceSum', [embedded, graph.int64('group_axis', [2])], { keepdims: { int: 0 } });
  const channels = graph.op('Transpose', [summed], { perm: { ints: [0, 2, 1] } });
  const padded = graph.op('Pad', [channels, graph.int64('causal_pad', [0, 0, CODEC_RECEPTIVE_FRAMES - 1, 0, 0, 0])]);
  const convolved = graph.op('Conv', [padded, random('conv', [width, width, CODEC_RECEPTIVE_FRAMES], 1 / Math.sqrt(width))]);
  const frames = graph.op('Tanh', [graph.op('Transpose', [convolved], { perm: { ints: [0, 2, 1] } })]);
  const samples = graph.op('Mul', [graph.op('Tanh', [graph.op('MatMul', [frames, random('upsample', [width, SAMPLES_PER_FRAME], 1)])]), graph.scalar('gain', 0.5)]);
  const audio = graph.op('Reshape', [samples, graph.int64('flat', [1, -1])]);
  graph.output('audio_values', audio, DataType.FLOAT, [1, 'samples']);
  graph.output('lengths', unsqueeze(graph, dimension(graph, audio, 1), [0]), DataType.INT64, [1]);
  return encodeModel(graph.graph('tokenizer12hz_decode'));
}

/** `tokenizer12hz_encode.onnx`: 24 kHz audio [1, N] → codes [1, N / 1920, 16] (a hash of each frame's sample groups). */
export function buildCodecEncodeGraph(options: Qwen3GraphOptions): Uint8Array {
  const graph = new GraphBuilder();
  const audio = graph.input('input_values', DataType.FLOAT, [1, 'samples']);
  const frames = graph.op('Div', [dimension(graph, audio, 1), graph.int64('frame', [SAMPLES_PER_FRAME], [])]);
  const end = unsqueeze(graph, graph.op('Mul', [frames, graph.int64('frame_samples', [SAMPLES_PER_FRAME], [])]), [0]);
  const whole = graph.op('Slice', [audio, graph.int64('slice_start', [0]), end, graph.int64('slice_axis', [1])]);
  const shape = graph.op('Concat', [graph.int64('batch', [1]), unsqueeze(graph, frames, [0]), graph.int64('groups', [options.codeGroups, SAMPLES_PER_FRAME / options.codeGroups])], { axis: { int: 0 } });
  const means = graph.op('ReduceMean', [graph.op('Abs', [graph.op('Reshape', [whole, shape])])], { axes: { ints: [3] }, keepdims: { int: 0 } });
  const codes = graph.op('Mod', [graph.op('Cast', [graph.op('Mul', [means, graph.scalar('spread', 1e5)])], { to: { int: DataType.INT64 } }), graph.int64('codebook_size', [options.codebookSize], [])]);
  graph.output('audio_codes', codes, DataType.INT64, [1, 'frames', options.codeGroups]);
  return encodeModel(graph.graph('tokenizer12hz_encode'));
}

/** `speaker_encoder.onnx`: log-mel [1, frames, 128] → x-vector [1, hidden]. */
export function buildSpeakerEncoderGraph(options: Qwen3GraphOptions): Uint8Array {
  const graph = new GraphBuilder();
  const random = randomizer(graph, new SeededWeights(options.seed + 6));
  const mels = graph.input('mels', DataType.FLOAT, [1, 'frames', 128]);
  const pooled = graph.op('ReduceMean', [mels], { axes: { ints: [1] }, keepdims: { int: 0 } });
  // The spectral shape, not the loudness: the mean over bins is taken out.
  const shape = graph.op('Sub', [pooled, graph.op('ReduceMean', [pooled], { axes: { ints: [1] }, keepdims: { int: 1 } })]);
  const vector = graph.op('MatMul', [shape, random('speaker_projection', [128, options.hiddenSize], 0.5)]);
  graph.output('spk_emb', vector, DataType.FLOAT, [1, options.hiddenSize]);
  return encodeModel(graph.graph('speaker_encoder'));
}
