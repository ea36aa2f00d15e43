/**
 * Generated Canary (AED) graphs with the tensor names and shapes of the onnx-asr
 * `nemo-conformer-aed` exports, whose decoder's choices are known by construction, so that
 * tests compute the expected tokens without any decoder:
 *
 * - `encoder-model.onnx`: `audio_signal` f32 `[B, F, T]`, `length` i64 `[B]` →
 *   `encoder_embeddings` f32 `[B, T', d]`, `encoder_mask` i64 `[B, T']` (8× subsampling).
 * - `decoder-model.onnx`: `input_ids` i64 `[B, L]`, `encoder_embeddings`, `encoder_mask`,
 *   `decoder_mems` f32 `[M, B, mems, d]` → `logits` f32 `[B, 1, V]` (log-softmaxed, last
 *   position), `decoder_hidden_states` f32 `[M, B, mems + L, d]`.
 *
 * The decoder's hidden rows are token embeddings `E[id] = (id, 1, noise…)`, cached across
 * calls through the mems. Its logits depend on every row so far: with `S` = the sum of all
 * ids (prompt included), `W` = the sum of each id times its position (1-based, so the order
 * counts: de→en differs from en→de), `n` = the number of ids and `F` = the number of valid
 * encoder frames, the next token is
 *
 *     end of text               when n − promptLength > F / framesPerToken,
 *     textStart + ((a·S + c·W + b·n) mod textCount)   otherwise,
 *
 * see {@link expectedCanaryTokens}. A decoder that feeds the wrong prompt, drops or repeats a
 * cached row, or ignores the end of text gets other tokens.
 */
import { DataType, GraphBuilder, SeededWeights, encodeModel } from '@talkies/testkit';

export interface CanaryRule {
  /** First and count of the ids the rule picks text from. */
  textStart: number;
  textCount: number;
  multiplier: number;
  positionMultiplier: number;
  countMultiplier: number;
  promptLength: number;
  framesPerToken: number;
  endOfText: number;
}

export interface CanaryArchitecture {
  melBins: number;
  width: number;
  /** M: mem lists (decoder layers + 2). */
  mems: number;
  vocabularySize: number;
  rule: CanaryRule;
  seed: number;
}

const { FLOAT, INT64 } = DataType;

/** The tokens the generated decoder produces for a prompt and a number of valid encoder frames. */
export function expectedCanaryTokens(rule: CanaryRule, prompt: readonly number[], frames: number, maxLength = 1024): number[] {
  const sequence = [...prompt];
  const tokens: number[] = [];
  while (sequence.length < maxLength) {
    const sum = sequence.reduce((total, id) => total + id, 0);
    const weighted = sequence.reduce((total, id, index) => total + id * (index + 1), 0);
    const count = sequence.length;
    if (count - rule.promptLength > frames / rule.framesPerToken) break;
    const token = rule.textStart + ((rule.multiplier * sum + rule.positionMultiplier * weighted + rule.countMultiplier * count) % rule.textCount);
    tokens.push(token);
    sequence.push(token);
  }
  return tokens;
}

export function canaryEncoder(architecture: CanaryArchitecture): Uint8Array {
  const { melBins, width, seed } = architecture;
  const graph = new GraphBuilder();
  const random = new SeededWeights(seed * 31 + 3);
  const signal = graph.input('audio_signal', FLOAT, ['batch', melBins, 'time']);
  const length = graph.input('length', INT64, ['batch']);
  let hidden = signal;
  let channels = melBins;
  for (let index = 0; index < 3; index++) {
    const out = index === 2 ? width : 16;
    const kernel = graph.float(`subsampling_${index}`, [out, channels, 3], random.floats(out * channels * 3, Math.sqrt(3 / (channels * 3))));
    hidden = graph.op('Tanh', [graph.op('Conv', [hidden, kernel], { strides: { ints: [2] }, pads: { ints: [1, 1] }, kernel_shape: { ints: [3] } })]);
    channels = out;
  }
  graph.output('encoder_embeddings', graph.op('Transpose', [hidden], { perm: { ints: [0, 2, 1] } }), FLOAT, ['batch', 'encoded_time', width]);
  let lengths = length;
  const one = graph.int64('one', [1], []);
  const two = graph.int64('two', [2], []);
  for (let index = 0; index < 3; index++) lengths = graph.op('Div', [graph.op('Add', [lengths, one]), two]);
  // mask[b, t] = t < lengths[b]
  const time = graph.op('Gather', [graph.op('Shape', [hidden]), graph.int64('time_axis', [2], [])], { axis: { int: 0 } });
  const positions = graph.op('Range', [graph.int64('zero', [0], []), time, graph.int64('step', [1], [])]);
  const mask = graph.op('Less', [graph.op('Unsqueeze', [positions, graph.int64('batch_axis', [0])]), graph.op('Unsqueeze', [lengths, graph.int64('time_axis_1', [1])])]);
  graph.output('encoder_mask', graph.op('Cast', [mask], { to: { int: INT64 } }), INT64, ['batch', 'encoded_time']);
  return encodeModel(graph.graph('canary_encoder'), 'talkies fixtures (NeMo export layout)');
}

export function canaryDecoder(architecture: CanaryArchitecture): Uint8Array {
  const { width, mems, vocabularySize, rule, seed } = architecture;
  const graph = new GraphBuilder();
  const inputIds = graph.input('input_ids', INT64, ['batch', 'decoder_length']);
  graph.input('encoder_embeddings', FLOAT, ['batch', 'encoded_time', width]);
  const encoderMask = graph.input('encoder_mask', INT64, ['batch', 'encoded_time']);
  const memsInput = graph.input('decoder_mems', FLOAT, [mems, 'batch', 'mems_length', width]);

  // E[id] = (id, 1, noise…): the rows carry each id and a count.
  const random = new SeededWeights(seed * 17 + 5);
  const table = new Float32Array(vocabularySize * width);
  for (let id = 0; id < vocabularySize; id++) {
    table[id * width] = id;
    table[id * width + 1] = 1;
    for (let column = 2; column < width; column++) table[id * width + column] = random.uniform(0.5);
  }
  const embedded = graph.op('Gather', [graph.float('embedding', [vocabularySize, width], table), inputIds], { axis: { int: 0 } });
  const layered = graph.op('Tile', [graph.op('Unsqueeze', [embedded, graph.int64('layer_axis', [0])]), graph.int64('repeats', [mems, 1, 1, 1])]);
  const hidden = graph.op('Concat', [memsInput, layered], { axis: { int: 2 } });
  graph.output('decoder_hidden_states', hidden, FLOAT, [mems, 'batch', 'total_length', width]);

  // Sums over the last layer's rows: S (ids) and n (count).
  const lastLayer = graph.op('Gather', [hidden, graph.int64('last_layer', [mems - 1], [])], { axis: { int: 0 } });
  const totals = graph.op('ReduceSum', [lastLayer, graph.int64('sequence_axis', [1])], { keepdims: { int: 0 } });
  const pick = (column: number, hint: string) => graph.op('Gather', [totals, graph.int64(hint, [column], [])], { axis: { int: 1 } });
  const sum = pick(0, 'sum_column');
  const count = pick(1, 'count_column');
  // W: ids times their 1-based positions in the whole sequence.
  const idColumn = graph.op('Gather', [lastLayer, graph.int64('id_column', [0], [])], { axis: { int: 2 } });
  const length = graph.op('Cast', [graph.op('Gather', [graph.op('Shape', [idColumn]), graph.int64('length_axis', [1], [])], { axis: { int: 0 } })], { to: { int: FLOAT } });
  const positions = graph.op('Range', [graph.scalar('first_position', 1), graph.op('Add', [length, graph.scalar('past_end', 1)]), graph.scalar('position_step', 1)]);
  const weighted = graph.op('ReduceSum', [graph.op('Mul', [idColumn, positions]), graph.int64('weighted_axis', [1])], { keepdims: { int: 0 } });
  const frames = graph.op('Cast', [graph.op('ReduceSum', [encoderMask, graph.int64('frame_axis', [1])], { keepdims: { int: 0 } })], { to: { int: FLOAT } });

  // target = textStart + ((a·S + c·W + b·n) mod K) + 0.25; text logits −(v − target)², peaked at the integer part.
  const mixed = graph.op('Add', [
    graph.op('Add', [graph.op('Mul', [sum, graph.scalar('multiplier', rule.multiplier)]), graph.op('Mul', [weighted, graph.scalar('position_multiplier', rule.positionMultiplier)])]),
    graph.op('Mul', [count, graph.scalar('count_multiplier', rule.countMultiplier)]),
  ]);
  const wrapped = graph.op('Mod', [mixed, graph.scalar('text_count', rule.textCount)], { fmod: { int: 1 } });
  const target = graph.op('Add', [wrapped, graph.scalar('text_offset', rule.textStart + 0.25)]);
  const ids = Float32Array.from({ length: vocabularySize }, (_, id) => id);
  const distance = graph.op('Sub', [graph.float('ids', [1, vocabularySize], ids), graph.op('Unsqueeze', [target, graph.int64('vocabulary_axis', [1])])]);
  const closeness = graph.op('Neg', [graph.op('Mul', [distance, distance])]);
  // Non-text ids far below; end of text: 100·(n − promptLength − F/framesPerToken) − 0.5.
  const outside = new Float32Array(vocabularySize).fill(-1e4);
  outside.fill(0, rule.textStart, rule.textStart + rule.textCount);
  const textLogits = graph.op('Add', [closeness, graph.float('outside', [1, vocabularySize], outside)]);
  const generated = graph.op('Sub', [graph.op('Sub', [count, graph.scalar('prompt_length', rule.promptLength)]), graph.op('Div', [frames, graph.scalar('frames_per_token', rule.framesPerToken)])]);
  const endLogit = graph.op('Sub', [graph.op('Mul', [generated, graph.scalar('end_scale', 100)]), graph.scalar('end_margin', 0.5)]);
  const endOnly = new Float32Array(vocabularySize);
  endOnly[rule.endOfText] = 1;
  const notEnd = Float32Array.from(endOnly, (value) => 1 - value);
  const logits = graph.op('Add', [
    graph.op('Mul', [textLogits, graph.float('not_end', [1, vocabularySize], notEnd)]),
    graph.op('Mul', [graph.op('Unsqueeze', [endLogit, graph.int64('end_axis', [1])]), graph.float('end_only', [1, vocabularySize], endOnly)]),
  ]);
  const normalised = graph.op('LogSoftmax', [logits], { axis: { int: -1 } });
  graph.output('logits', graph.op('Unsqueeze', [normalised, graph.int64('position_axis', [1])]), FLOAT, ['batch', 1, vocabularySize]);
  return encodeModel(graph.graph('canary_decoder'), 'talkies fixtures (NeMo export layout)');
}
