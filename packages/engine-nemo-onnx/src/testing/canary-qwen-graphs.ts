/**
 * Generated canary-qwen graphs in talkies' split layout (see docs/canary-qwen-onnx.md) and a
 * small Qwen-style byte-level BPE `tokenizer.json`. As for Canary, the decoder's choices are
 * known by construction:
 *
 * - token rows are `E[id] = (id, 1, noise…)`, audio rows from the encoder are `(0, 0, …)`;
 * - each layer's cache keys are the rows, its values carry each row's `position_ids`;
 * - with `S` = the sum of token ids, `W` = the sum of id × (position + 1), `n` = the attention
 *   mask's sum, `t` = the number of token rows and `F` = `n − t` audio rows, the next token is
 *   `<|im_end|>` when `t − promptTokens > F / framesPerToken`, else
 *   `textStart + ((a·S + c·W + b·n) mod textCount)`: see {@link expectedCanaryQwenTokens}.
 */
import { DataType, GraphBuilder, SeededWeights, encodeModel } from '@talkies/testkit';
import { byteCharacters } from '../qwen-tokenizer.js';

export interface CanaryQwenRule {
  textStart: number;
  textCount: number;
  multiplier: number;
  positionMultiplier: number;
  countMultiplier: number;
  /** Prompt ids other than the placeholder. */
  promptTokens: number;
  framesPerToken: number;
  endOfTurn: number;
}

export interface CanaryQwenArchitecture {
  melBins: number;
  width: number;
  layers: number;
  vocabularySize: number;
  rule: CanaryQwenRule;
  seed: number;
}

const { FLOAT, INT64 } = DataType;

export function expectedCanaryQwenTokens(rule: CanaryQwenRule, prompt: readonly number[], placeholder: number, frames: number, maxLength = 1024): number[] {
  const rows: Array<{ id: number; token: boolean }> = [];
  for (const id of prompt) {
    if (id === placeholder) for (let frame = 0; frame < frames; frame++) rows.push({ id: 0, token: false });
    else rows.push({ id, token: true });
  }
  const tokens: number[] = [];
  while (rows.length < maxLength) {
    let sum = 0;
    let weighted = 0;
    let count = 0;
    rows.forEach((row, position) => {
      if (!row.token) return;
      sum += row.id;
      weighted += row.id * (position + 1);
      count++;
    });
    const audio = rows.length - count;
    if (count - rule.promptTokens > audio / rule.framesPerToken) break;
    const token = rule.textStart + ((rule.multiplier * sum + rule.positionMultiplier * weighted + rule.countMultiplier * rows.length) % rule.textCount);
    tokens.push(token);
    rows.push({ id: token, token: true });
  }
  return tokens;
}

/** A byte-level BPE tokenizer.json: 256 byte pieces, merges spelling `words`, then Qwen's chat specials. */
export function qwenTokenizerJson(words: readonly string[]): { json: object; textStart: number; textCount: number; size: number } {
  const bytes = byteCharacters();
  const vocab: Record<string, number> = {};
  bytes.forEach((character, id) => (vocab[character] = id));
  const merges: string[] = [];
  const textStart = bytes.length;
  for (const word of words) {
    const characters = [...new TextEncoder().encode(word)].map((byte) => bytes[byte]!);
    let current = characters[0]!;
    for (const next of characters.slice(1)) {
      const merged = current + next;
      if (!(merged in vocab)) {
        merges.push(`${current} ${next}`);
        vocab[merged] = Object.keys(vocab).length;
      }
      current = merged;
    }
  }
  const textCount = Object.keys(vocab).length - textStart;
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const base = Object.keys(vocab).length;
  return {
    json: {
      version: '1.0',
      added_tokens: specials.map((content, index) => ({ id: base + index, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      pre_tokenizer: { type: 'Sequence' },
      decoder: { type: 'ByteLevel' },
      model: { type: 'BPE', vocab, merges, byte_fallback: false, ignore_merges: false },
    },
    textStart,
    textCount,
    size: base + specials.length,
  };
}

function subsampledEncoder(graph: GraphBuilder, melBins: number, width: number, random: SeededWeights): { hidden: string; lengths: string } {
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
  let lengths = length;
  const one = graph.int64('one', [1], []);
  const two = graph.int64('two', [2], []);
  for (let index = 0; index < 3; index++) lengths = graph.op('Div', [graph.op('Add', [lengths, one]), two]);
  return { hidden, lengths };
}

export function canaryQwenEncoder(architecture: CanaryQwenArchitecture): Uint8Array {
  const { melBins, width, seed } = architecture;
  const graph = new GraphBuilder();
  const { hidden, lengths } = subsampledEncoder(graph, melBins, width, new SeededWeights(seed * 13 + 1));
  // Audio rows carry id 0 and token flag 0 in their first two columns.
  const keep = new Float32Array(width).fill(1);
  keep[0] = 0;
  keep[1] = 0;
  const rows = graph.op('Mul', [graph.op('Transpose', [hidden], { perm: { ints: [0, 2, 1] } }), graph.float('audio_columns', [width], keep)]);
  graph.output('encoder_embeddings', rows, FLOAT, ['batch', 'encoded_time', width]);
  graph.output('encoded_lengths', lengths, INT64, ['batch']);
  return encodeModel(graph.graph('canary_qwen_encoder'), 'talkies fixtures (talkies canary-qwen split layout)');
}

export function canaryQwenEmbedTokens(architecture: CanaryQwenArchitecture): Uint8Array {
  const { width, vocabularySize, seed } = architecture;
  const graph = new GraphBuilder();
  const ids = graph.input('input_ids', INT64, ['batch', 'sequence_length']);
  const random = new SeededWeights(seed * 7 + 2);
  const table = new Float32Array(vocabularySize * width);
  for (let id = 0; id < vocabularySize; id++) {
    table[id * width] = id;
    table[id * width + 1] = 1;
    for (let column = 2; column < width; column++) table[id * width + column] = random.uniform(0.5);
  }
  graph.output('inputs_embeds', graph.op('Gather', [graph.float('embed_tokens', [vocabularySize, width], table), ids], { axis: { int: 0 } }), FLOAT, ['batch', 'sequence_length', width]);
  return encodeModel(graph.graph('canary_qwen_embed_tokens'), 'talkies fixtures (talkies canary-qwen split layout)');
}

export function canaryQwenDecoder(architecture: CanaryQwenArchitecture): Uint8Array {
  const { width, layers, vocabularySize, rule } = architecture;
  const graph = new GraphBuilder();
  const embeds = graph.input('inputs_embeds', FLOAT, ['batch', 'sequence_length', width]);
  const mask = graph.input('attention_mask', INT64, ['batch', 'total_sequence_length']);
  const positionIds = graph.input('position_ids', INT64, ['batch', 'sequence_length']);
  const newKeys = graph.op('Unsqueeze', [embeds, graph.int64('head_axis', [1])]);
  const positionColumn = graph.op('Unsqueeze', [graph.op('Cast', [positionIds], { to: { int: FLOAT } }), graph.int64('column_axis', [2])]);
  const newValues = graph.op('Unsqueeze', [graph.op('Mul', [positionColumn, graph.float('ones', [width], new Float32Array(width).fill(1))]), graph.int64('value_head_axis', [1])]);
  let keys = '';
  let values = '';
  for (let layer = 0; layer < layers; layer++) {
    const pastKey = graph.input(`past_key_values.${layer}.key`, FLOAT, ['batch', 1, 'past_sequence_length', width]);
    const pastValue = graph.input(`past_key_values.${layer}.value`, FLOAT, ['batch', 1, 'past_sequence_length', width]);
    keys = graph.op('Concat', [pastKey, newKeys], { axis: { int: 2 } });
    values = graph.op('Concat', [pastValue, newValues], { axis: { int: 2 } });
    graph.output(`present.${layer}.key`, keys, FLOAT, ['batch', 1, 'total_sequence_length', width]);
    graph.output(`present.${layer}.value`, values, FLOAT, ['batch', 1, 'total_sequence_length', width]);
  }
  const column = (source: string, index: number, hint: string) => graph.op('Gather', [source, graph.int64(hint, [index], [])], { axis: { int: 3 } });
  const total = (source: string, hint: string) => graph.op('ReduceSum', [source, graph.int64(hint, [1, 2])], { keepdims: { int: 0 } });
  const idColumn = column(keys, 0, 'id_column');
  const sum = total(idColumn, 'sum_axes');
  const tokenCount = total(column(keys, 1, 'flag_column'), 'count_axes');
  const weighted = total(graph.op('Mul', [idColumn, graph.op('Add', [column(values, 0, 'position_column'), graph.scalar('one_based', 1)])]), 'weighted_axes');
  const rows = graph.op('Cast', [graph.op('ReduceSum', [mask, graph.int64('mask_axis', [1])], { keepdims: { int: 0 } })], { to: { int: FLOAT } });
  const audio = graph.op('Sub', [rows, tokenCount]);

  const mixed = graph.op('Add', [
    graph.op('Add', [graph.op('Mul', [sum, graph.scalar('multiplier', rule.multiplier)]), graph.op('Mul', [weighted, graph.scalar('position_multiplier', rule.positionMultiplier)])]),
    graph.op('Mul', [rows, graph.scalar('count_multiplier', rule.countMultiplier)]),
  ]);
  const target = graph.op('Add', [graph.op('Mod', [mixed, graph.scalar('text_count', rule.textCount)], { fmod: { int: 1 } }), graph.scalar('text_offset', rule.textStart + 0.25)]);
  const ids = Float32Array.from({ length: vocabularySize }, (_, id) => id);
  const distance = graph.op('Sub', [graph.float('ids', [1, vocabularySize], ids), graph.op('Unsqueeze', [target, graph.int64('vocabulary_axis', [1])])]);
  const outside = new Float32Array(vocabularySize).fill(-1e4);
  outside.fill(0, rule.textStart, rule.textStart + rule.textCount);
  const textLogits = graph.op('Add', [graph.op('Neg', [graph.op('Mul', [distance, distance])]), graph.float('outside', [1, vocabularySize], outside)]);
  const generated = graph.op('Sub', [graph.op('Sub', [tokenCount, graph.scalar('prompt_tokens', rule.promptTokens)]), graph.op('Div', [audio, graph.scalar('frames_per_token', rule.framesPerToken)])]);
  const endLogit = graph.op('Sub', [graph.op('Mul', [generated, graph.scalar('end_scale', 100)]), graph.scalar('end_margin', 0.5)]);
  const endOnly = new Float32Array(vocabularySize);
  endOnly[rule.endOfTurn] = 1;
  const logits = graph.op('Add', [
    graph.op('Mul', [textLogits, graph.float('not_end', [1, vocabularySize], Float32Array.from(endOnly, (value) => 1 - value))]),
    graph.op('Mul', [graph.op('Unsqueeze', [endLogit, graph.int64('end_axis', [1])]), graph.float('end_only', [1, vocabularySize], endOnly)]),
  ]);
  graph.output('logits', graph.op('Unsqueeze', [logits, graph.int64('position_axis', [1])]), FLOAT, ['batch', 1, vocabularySize]);
  return encodeModel(graph.graph('canary_qwen_decoder'), 'talkies fixtures (talkies canary-qwen split layout)');
}
