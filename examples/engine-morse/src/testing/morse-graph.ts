/**
 * The Morse tone renderer as an ONNX graph, written with @talkies/testkit.
 *
 * Inputs: `tone` float32 [symbols] (1 for tone, 0 for silence), `duration` int64
 * [symbols] (samples of each symbol) and `frequency` float32 [1] (Hz, a whole number).
 * Output: `waveform` float32 [sum of durations].
 *
 * The on/off gate is built without a [samples × symbols] matrix: each symbol's change of
 * level is scattered to the sample where it starts, and a running sum turns those steps
 * into the gate. The tone is a fundamental plus two quiet overtones whose weights are the
 * model's only "trained" parameters (seeded random here).
 */
import { DataType, GraphBuilder, SeededWeights, encodeModel, tensorProto } from '@talkies/testkit';

export interface MorseGraphOptions {
  sampleRate: number;
  /** Seed of the overtone weights. */
  seed?: number;
}

export function buildMorseModel(options: MorseGraphOptions): Uint8Array {
  const graph = new GraphBuilder();
  const tone = graph.input('tone', DataType.FLOAT, ['symbols']);
  const duration = graph.input('duration', DataType.INT64, ['symbols']);
  const frequency = graph.input('frequency', DataType.FLOAT, [1]);
  const axis = graph.int64('axis', [0], []);

  // Where each symbol starts and how many samples there are in all.
  const ends = graph.op('CumSum', [duration, axis]);
  const starts = graph.op('Sub', [ends, duration]);
  const total = graph.op('ReduceSum', [duration], { keepdims: { int: 1 } });

  // The gate: +1 where a tone starts, -1 where silence starts, summed along time.
  const zeros = graph.op('ConstantOfShape', [total], { value: { tensor: tensorProto('zero', DataType.FLOAT, [1], Float32Array.of(0)) } });
  const previous = graph.op('Concat', [graph.float('silence', [1], [0]), graph.op('Slice', [tone, graph.int64('from', [0]), graph.int64('to', [-1]), graph.int64('axes', [0])])], {
    axis: { int: 0 },
  });
  const steps = graph.op('Sub', [tone, previous]);
  const scattered = graph.op('ScatterElements', [zeros, starts, steps], { axis: { int: 0 }, reduction: { string: 'add' } });
  const gate = graph.op('CumSum', [scattered, axis]);

  // Time in samples, wrapped at one second: with a whole-number frequency the sine is
  // the same, and the phase stays small enough for float32 however long the audio.
  const count = graph.op('Cast', [graph.op('Squeeze', [total])], { to: { int: DataType.FLOAT } });
  const time = graph.op('Range', [graph.scalar('start', 0), count, graph.scalar('step', 1)]);
  const wrapped = graph.op('Mod', [time, graph.scalar('sample_rate', options.sampleRate)], { fmod: { int: 1 } });
  const phase = graph.op('Mul', [graph.op('Mul', [wrapped, graph.scalar('radians_per_sample', (2 * Math.PI) / options.sampleRate)]), frequency]);

  // Fundamental and overtones: [samples, 1] × [1, 3] → sine → weighted sum.
  const weights = new SeededWeights(options.seed ?? 7);
  const overtones = [1, weights.uniform(0.15), weights.uniform(0.15)];
  const scale = 0.6 / overtones.reduce((sum, weight) => sum + Math.abs(weight), 0);
  const column = graph.op('Unsqueeze', [phase, graph.int64('column', [1])]);
  const harmonics = graph.op('Sin', [graph.op('Mul', [column, graph.float('harmonics', [1, 3], [1, 2, 3])])]);
  const wave = graph.op('MatMul', [harmonics, graph.float('overtone_weights', [3], overtones.map((weight) => weight * scale))]);
  graph.output('waveform', graph.op('Mul', [wave, gate]), DataType.FLOAT, ['samples']);
  return encodeModel(graph.graph('morse'), 'talkies-example engine-morse fixtures');
}
