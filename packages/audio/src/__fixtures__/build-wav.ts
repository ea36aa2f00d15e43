/**
 * WAV files built byte by byte, for tests that need exact headers: extra chunks, pad bytes,
 * lying sizes, other formats. Samples are pseudo-random (seeded) over the whole 16-bit range.
 */

import { seededRandom } from '@talkies/core';

export interface WavLayoutOptions {
  channels?: number;
  sampleRate?: number;
  frames?: number;
  bitsPerSample?: number;
  /** The fmt chunk's format tag (1 PCM, 3 float, 0xfffe extensible). */
  formatTag?: number;
  /** 16, or 18 with a cbSize of 0, or 40 for WAVE_FORMAT_EXTENSIBLE. */
  fmtBytes?: 16 | 18 | 40;
  /** Overrides the byte rate field. */
  byteRate?: number;
  /** Overrides the RIFF size field. */
  riffSize?: number;
  /** Chunks between fmt and data, written with their pad byte when odd. */
  before?: Array<{ id: string; body: Uint8Array }>;
  /** Overrides the data chunk's size field. */
  declaredDataBytes?: number;
  /** Bytes after the data chunk (a pad byte, a trailing chunk, a second data chunk). */
  after?: Uint8Array;
  seed?: number;
  /** Sample bytes instead of random ones. */
  data?: Uint8Array;
}

/** Deterministic bytes from core's seeded generator, so a failure reproduces. */
export function randomBytes(count: number, seed = 1): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: count }, () => Math.floor(random() * 256));
}

export function chunk(id: string, body: Uint8Array): Uint8Array {
  const bytes = Buffer.alloc(8 + body.length + (body.length % 2));
  bytes.write(id, 0, 'latin1');
  bytes.writeUInt32LE(body.length, 4);
  bytes.set(body, 8);
  return bytes;
}

export function buildWav(options: WavLayoutOptions = {}): Buffer {
  const channels = options.channels ?? 1;
  const sampleRate = options.sampleRate ?? 16000;
  const bitsPerSample = options.bitsPerSample ?? 16;
  const blockAlign = channels * (bitsPerSample / 8);
  const data = options.data ?? randomBytes((options.frames ?? sampleRate) * blockAlign, options.seed);
  const fmtBytes = options.fmtBytes ?? 16;
  const fmt = Buffer.alloc(fmtBytes);
  fmt.writeUInt16LE(options.formatTag ?? 1, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(sampleRate, 4);
  fmt.writeUInt32LE(options.byteRate ?? sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bitsPerSample, 14);
  if (fmtBytes === 40) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(bitsPerSample, 18); // valid bits
    fmt.writeUInt32LE(0, 20); // channel mask: none given
    // KSDATAFORMAT_SUBTYPE_PCM: 00000001-0000-0010-8000-00aa00389b71
    Buffer.from('0100000000001000800000aa00389b71', 'hex').copy(fmt, 24);
  }
  const dataHeader = Buffer.alloc(8);
  dataHeader.write('data', 0, 'latin1');
  dataHeader.writeUInt32LE(options.declaredDataBytes ?? data.length, 4);
  const body = Buffer.concat([
    Buffer.from('WAVE', 'latin1'),
    chunk('fmt ', fmt),
    ...(options.before ?? []).map((extra) => chunk(extra.id, extra.body)),
    dataHeader,
    data,
    options.after ?? new Uint8Array(0),
  ]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(options.riffSize ?? body.length, 4);
  return Buffer.concat([riff, body]);
}
