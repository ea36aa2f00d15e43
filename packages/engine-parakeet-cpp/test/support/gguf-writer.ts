/**
 * A minimal GGUF (version 3) writer for test models: key/value metadata and, optionally,
 * f32 tensors, laid out as ggml reads them (little-endian, tensor data aligned to
 * `general.alignment`, default 32).
 */
export type GgufValue =
  | { type: 'string'; value: string }
  | { type: 'uint32'; value: number }
  | { type: 'int32'; value: number }
  | { type: 'float32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'array-string'; value: string[] }
  | { type: 'array-int32'; value: number[] };

export interface GgufTensor {
  name: string;
  /** ggml order: the fastest-varying dimension first. */
  dims: number[];
  data: Float32Array;
}

const TYPE = { uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9 } as const;
const ALIGNMENT = 32;

class Writer {
  readonly parts: Buffer[] = [];
  length = 0;
  push(buffer: Buffer): void {
    this.parts.push(buffer);
    this.length += buffer.length;
  }
  u32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32LE(value);
    this.push(buffer);
  }
  i32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32LE(value);
    this.push(buffer);
  }
  u64(value: number | bigint): void {
    const buffer = Buffer.alloc(8);
    buffer.writeBigUInt64LE(BigInt(value));
    this.push(buffer);
  }
  f32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeFloatLE(value);
    this.push(buffer);
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  pad(): void {
    const extra = (ALIGNMENT - (this.length % ALIGNMENT)) % ALIGNMENT;
    if (extra) this.push(Buffer.alloc(extra));
  }
}

export function writeGguf(metadata: Record<string, GgufValue>, tensors: GgufTensor[] = []): Buffer {
  const out = new Writer();
  out.push(Buffer.from('GGUF', 'ascii'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(Object.keys(metadata).length);
  for (const [key, entry] of Object.entries(metadata)) {
    out.string(key);
    switch (entry.type) {
      case 'string': out.u32(TYPE.string); out.string(entry.value); break;
      case 'uint32': out.u32(TYPE.uint32); out.u32(entry.value); break;
      case 'int32': out.u32(TYPE.int32); out.i32(entry.value); break;
      case 'float32': out.u32(TYPE.float32); out.f32(entry.value); break;
      case 'bool': out.u32(TYPE.bool); out.push(Buffer.of(entry.value ? 1 : 0)); break;
      case 'array-string': out.u32(TYPE.array); out.u32(TYPE.string); out.u64(entry.value.length); for (const item of entry.value) out.string(item); break;
      case 'array-int32': out.u32(TYPE.array); out.u32(TYPE.int32); out.u64(entry.value.length); for (const item of entry.value) out.i32(item); break;
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(0); // GGML_TYPE_F32
    out.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((tensor.data.byteLength) / ALIGNMENT) * ALIGNMENT;
  }
  out.pad();
  for (const tensor of tensors) {
    out.push(Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
    out.pad();
  }
  return Buffer.concat(out.parts);
}
