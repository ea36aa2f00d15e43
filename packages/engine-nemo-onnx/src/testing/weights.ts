/**
 * Weight initialisers for the generated graphs, stored as the published exports store
 * them: float32 in the fp32 graphs, int8 with a per-tensor scale behind `DequantizeLinear`
 * in the `.int8.onnx` graphs.
 */
import { DataType, type GraphBuilder, type SeededWeights } from '@talkies/testkit';

export type StoredPrecision = 'fp32' | 'int8';

export class WeightWriter {
  constructor(
    readonly graph: GraphBuilder,
    readonly random: SeededWeights,
    readonly precision: StoredPrecision,
  ) {}

  /** A weight of `dims` filled with numbers uniform in ±limit (or the given values). */
  weight(hint: string, dims: readonly number[], limit: number, values?: Float32Array): string {
    const count = dims.reduce((product, size) => product * size, 1);
    const data = values ?? this.random.floats(count, limit);
    if (this.precision === 'fp32' || count < 64) return this.graph.float(hint, dims, data);
    let largest = 0;
    for (const value of data) largest = Math.max(largest, Math.abs(value));
    const scale = largest / 127 || 1;
    const quantised = new Int8Array(count);
    for (let index = 0; index < count; index++) quantised[index] = Math.max(-127, Math.min(127, Math.round(data[index]! / scale)));
    const stored = this.graph.initializer(`${hint}_int8`, DataType.INT8, dims, quantised);
    return this.graph.op('DequantizeLinear', [stored, this.graph.scalar(`${hint}_scale`, scale)]);
  }
}
