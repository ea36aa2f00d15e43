import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { seededRandom } from '@talkies/core';
import { decodeModel, type DecodedValue } from '@talkies/testkit';
import { GreedyPicker, greedyPickerModel } from './greedy-picker.js';
import { argmax, logSumExp } from './logit-filters.js';
import { encodeSmallModel } from './small-onnx-model.js';

const VOCABULARY = 51_865;

function randomLogits(count: number, seed: number, spread = 20): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => (random() - 0.5) * spread);
}

describe('encodeSmallModel', () => {
  it('writes what onnx.proto reads back: opset, nodes, integer attributes (negative ones too), inputs and outputs', () => {
    const bytes = encodeSmallModel({
      name: 'probe',
      opset: 17,
      inputs: [{ name: 'x', elementType: 1, dims: ['batch', 300] }],
      outputs: [{ name: 'y', elementType: 7, dims: ['batch', 1] }],
      nodes: [{ opType: 'ArgMax', inputs: ['x'], outputs: ['y'], attributes: { axis: -1, keepdims: 1, unused_list: [3, -2, 1 << 20] } }],
    });
    const model = decodeModel(bytes);
    expect(Number(model.irVersion)).toBe(8);
    expect(model.opsetImport.map((opset) => [opset.domain, Number(opset.version)])).toEqual([['', 17]]);
    const { graph } = model;
    expect(graph.name).toBe('probe');
    const node = graph.node[0]!;
    expect([node.opType, node.input, node.output]).toEqual(['ArgMax', ['x'], ['y']]);
    const attributes = Object.fromEntries((node.attribute ?? []).map((attribute) => [attribute.name, attribute.ints ?? attribute.i]));
    expect(attributes).toEqual({ axis: -1, keepdims: 1, unused_list: [3, -2, 1 << 20] });
    const described = (value: DecodedValue) => [value.name, value.type.tensorType.elemType, value.type.tensorType.shape.dim.map((dim) => dim.dimParam ?? dim.dimValue)];
    expect(described(graph.input[0]!)).toEqual(['x', 1, ['batch', 300]]);
    expect(described(graph.output[0]!)).toEqual(['y', 7, ['batch', 1]]);
  });

  it('refuses a value that a varint of a safe integer cannot hold', () => {
    const model = (value: number) => ({ name: 'm', opset: 17, inputs: [], outputs: [], nodes: [{ opType: 'Constant', inputs: [], outputs: ['c'], attributes: { value_int: value } }] });
    expect(() => encodeSmallModel(model(0.5))).toThrow(RangeError);
    expect(() => encodeSmallModel(model(2 ** 60))).toThrow(RangeError);
  });
});

describe('GreedyPicker (onnxruntime)', () => {
  let picker: GreedyPicker;
  beforeAll(async () => {
    picker = await GreedyPicker.create(ort);
  });
  afterAll(async () => {
    await picker.release();
  });

  it('picks each row’s largest logit and its log-probability, as argmax and the float64 log-sum-exp do', async () => {
    const batch = 5;
    const logits = randomLogits(batch * VOCABULARY, 11);
    // Filtered tokens, as the logit filters leave them.
    for (let row = 0; row < batch; row++) for (let id = 0; id < 90; id++) logits[row * VOCABULARY + id * 7] = -Infinity;
    const choice = await picker.pick(logits, batch, 1, VOCABULARY);
    for (let row = 0; row < batch; row++) {
      const values = logits.subarray(row * VOCABULARY, (row + 1) * VOCABULARY);
      const token = argmax(values);
      expect(choice.tokens[row]).toBe(token);
      // float32 log-softmax against the double one: a few float32 ulp of the value.
      const expected = values[token]! - logSumExp(values);
      expect(Math.abs(choice.logprobs[row]! - expected)).toBeLessThan(1e-5);
    }
  });

  it('takes the lowest index among ties, reads only each row’s last position, and gives 0 for a row with one finite logit', async () => {
    const length = 3;
    const vocabulary = 1000;
    const logits = randomLogits(2 * length * vocabulary, 5);
    const last = (row: number, id: number) => (row * length + length - 1) * vocabulary + id;
    logits[last(0, 40)] = 50;
    logits[last(0, 700)] = 50;
    logits[last(0, 900)] = 50;
    logits[(0 * length + 0) * vocabulary + 3] = 99; // an earlier position: not read
    logits.fill(-Infinity, last(1, 0), last(1, vocabulary));
    logits[last(1, 123)] = -3;
    const choice = await picker.pick(logits, 2, length, vocabulary);
    expect(Array.from(choice.tokens)).toEqual([40, 123]);
    expect(choice.logprobs[0]).toBeCloseTo(-Math.log(3), 6);
    expect(choice.logprobs[1]).toBe(0);
  });

  it('gives every row, bit for bit, what it gives that row alone, wherever the row lies in memory', async () => {
    const batch = 8;
    const logits = randomLogits(batch * VOCABULARY, 23, 40);
    const together = await picker.pick(logits, batch, 1, VOCABULARY);
    for (let row = 0; row < batch; row++) {
      const alone = new Float32Array(VOCABULARY + 3);
      alone.set(logits.subarray(row * VOCABULARY, (row + 1) * VOCABULARY), row % 4);
      const single = await picker.pick(alone.subarray(row % 4, (row % 4) + VOCABULARY), 1, 1, VOCABULARY);
      expect(single.tokens[0]).toBe(together.tokens[row]);
      expect(Object.is(single.logprobs[0], together.logprobs[row])).toBe(true);
    }
  });

  it('is a graph of standard operators at opset 17', () => {
    const { graph } = decodeModel(greedyPickerModel());
    expect(graph.node.map((node) => node.opType)).toEqual(['Constant', 'Gather', 'ArgMax', 'LogSoftmax', 'GatherElements']);
    expect(graph.node.every((node) => !node.domain)).toBe(true);
  });
});
