/**
 * Writes a small ONNX model (nodes with integer attributes, typed inputs and outputs, no
 * initializers) as protobuf bytes, for graphs the engine builds itself and hands to
 * `InferenceSession.create`. Only the fields of onnx.proto that such a model needs.
 */

export interface SmallNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** Integer and integer-list attributes. */
  attributes?: Record<string, number | readonly number[]>;
}

export interface SmallValue {
  name: string;
  /** onnx.TensorProto.DataType: 1 float, 7 int64. */
  elementType: number;
  /** A number for a fixed size, a string for a named dynamic one. */
  dims: ReadonlyArray<number | string>;
}

export interface SmallModel {
  name: string;
  opset: number;
  nodes: readonly SmallNode[];
  inputs: readonly SmallValue[];
  outputs: readonly SmallValue[];
}

/** Protobuf wire format: varints (wire type 0) and length-delimited fields (wire type 2). */
class ProtoWriter {
  readonly #bytes: number[] = [];

  varint(field: number, value: number): this {
    this.#key(field, 0);
    this.#raw(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, write: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  bytes(field: number, value: Uint8Array): this {
    this.#key(field, 2);
    this.#raw(value.length);
    for (const byte of value) this.#bytes.push(byte);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }

  #key(field: number, wireType: number): void {
    this.#raw(field * 8 + wireType);
  }

  /** A varint of a safe integer; negative values as 64-bit two's complement (ten bytes). */
  #raw(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
    let rest = BigInt.asUintN(64, BigInt(value));
    do {
      const low = Number(rest & 0x7fn);
      rest >>= 7n;
      this.#bytes.push(rest === 0n ? low : low | 0x80);
    } while (rest !== 0n);
  }
}

// Field numbers of onnx.proto.
const MODEL = { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8 } as const;
const GRAPH = { node: 1, name: 2, input: 11, output: 12 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 } as const;
const ATTRIBUTE = { name: 1, i: 3, ints: 8, type: 20 } as const;
const ATTRIBUTE_TYPE = { INT: 2, INTS: 7 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIMENSION = { value: 1, param: 2 } as const;
const OPSET = { domain: 1, version: 2 } as const;
/** IR version 8 goes with opsets up to 18. */
const IR_VERSION = 8;

function writeValue(writer: ProtoWriter, value: SmallValue): void {
  writer.string(VALUE_INFO.name, value.name).message(VALUE_INFO.type, (type) =>
    type.message(TYPE.tensorType, (tensor) =>
      tensor.varint(TENSOR_TYPE.elemType, value.elementType).message(TENSOR_TYPE.shape, (shape) => {
        for (const dim of value.dims) {
          shape.message(SHAPE.dim, (dimension) =>
            typeof dim === 'number' ? dimension.varint(DIMENSION.value, dim) : dimension.string(DIMENSION.param, dim),
          );
        }
      }),
    ),
  );
}

export function encodeSmallModel(model: SmallModel): Uint8Array {
  return new ProtoWriter()
    .varint(MODEL.irVersion, IR_VERSION)
    .string(MODEL.producerName, '@talkies/engine-whisper')
    .message(MODEL.opsetImport, (opset) => opset.string(OPSET.domain, '').varint(OPSET.version, model.opset))
    .message(MODEL.graph, (graph) => {
      model.nodes.forEach((node, index) => {
        graph.message(GRAPH.node, (writer) => {
          for (const input of node.inputs) writer.string(NODE.input, input);
          for (const output of node.outputs) writer.string(NODE.output, output);
          writer.string(NODE.name, `${node.opType}_${index}`).string(NODE.opType, node.opType);
          for (const [name, value] of Object.entries(node.attributes ?? {})) {
            writer.message(NODE.attribute, (attribute) => {
              attribute.string(ATTRIBUTE.name, name);
              if (typeof value === 'number') attribute.varint(ATTRIBUTE.i, value).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.INT);
              else {
                for (const item of value) attribute.varint(ATTRIBUTE.ints, item);
                attribute.varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.INTS);
              }
            });
          }
        });
      });
      graph.string(GRAPH.name, model.name);
      for (const input of model.inputs) graph.message(GRAPH.input, (writer) => writeValue(writer, input));
      for (const output of model.outputs) graph.message(GRAPH.output, (writer) => writeValue(writer, output));
    })
    .finish();
}
