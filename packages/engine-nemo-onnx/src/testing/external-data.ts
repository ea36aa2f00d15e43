/**
 * Moves a graph's large initialisers into an external-data file, as NeMo's fp32 exports over
 * 2 GB ship them (`encoder-model.onnx` + `encoder-model.onnx.data`).
 */
import type { GraphBuilder } from '@talkies/testkit';

const EXTERNAL = 1;

/** Rewrites the initialisers of `graph` in place; returns the bytes of the data file. */
export function externaliseInitializers(graph: GraphBuilder, location: string, minimumBytes = 1024): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of graph.initializers) {
    const raw = tensor.rawData as Uint8Array | undefined;
    if (!raw || raw.length < minimumBytes) continue;
    const padding = (64 - (offset % 64)) % 64;
    if (padding > 0) parts.push(new Uint8Array(padding));
    offset += padding;
    parts.push(raw.slice());
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    tensor.dataLocation = EXTERNAL;
    tensor.rawData = new Uint8Array(0);
    offset += raw.length;
  }
  const out = new Uint8Array(offset);
  let position = 0;
  for (const part of parts) {
    out.set(part, position);
    position += part.length;
  }
  return out;
}
