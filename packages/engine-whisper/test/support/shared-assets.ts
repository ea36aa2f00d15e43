/**
 * Test access to ../shared (real recordings and Whisper's reference assets). A user's
 * clone has no ../shared: tests that need it skip with a message instead of failing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const sharedDirectory = resolve(repositoryRoot, '../shared');
export const whisperAssetsDirectory = join(sharedDirectory, 'whisper-assets');
export const audioDirectory = join(sharedDirectory, 'audio');

/** True when the named files exist under ../shared; otherwise warns once and returns false. */
export function hasShared(...relativePaths: string[]): boolean {
  const missing = relativePaths.filter((path) => !existsSync(join(sharedDirectory, path)));
  if (missing.length > 0) {
    console.warn(`skipping: ${missing.map((path) => join(sharedDirectory, path)).join(', ')} not found (../shared is absent in a plain clone)`);
    return false;
  }
  return true;
}

/** Reads a 16-bit PCM WAV into float32 per channel. */
export function readWav(path: string): { sampleRate: number; channels: Float32Array[] } {
  const buffer = readFileSync(path);
  if (buffer.toString('ascii', 0, 4) !== 'RIFF' || buffer.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path} is not a WAV file`);
  let offset = 12;
  let channelCount = 1;
  let sampleRate = 16000;
  let bits = 16;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      channelCount = buffer.readUInt16LE(body + 2);
      sampleRate = buffer.readUInt32LE(body + 4);
      bits = buffer.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${path}: only 16-bit PCM is supported`);
      const frames = Math.floor(size / 2 / channelCount);
      const channels = Array.from({ length: channelCount }, () => new Float32Array(frames));
      for (let frame = 0; frame < frames; frame++) {
        for (let channel = 0; channel < channelCount; channel++) {
          channels[channel]![frame] = buffer.readInt16LE(body + (frame * channelCount + channel) * 2) / 32768;
        }
      }
      return { sampleRate, channels };
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${path} has no data chunk`);
}

/** jfk.wav from ../shared/audio as 16 kHz mono float32. */
export function readJfk(): Float32Array {
  return readWav(join(audioDirectory, 'jfk.wav')).channels[0]!;
}

/** One array of a NumPy .npz (a zip of .npy files), as float64 with its shape. */
export function readNpz(path: string, name: string): { shape: number[]; data: Float64Array } {
  const zip = readFileSync(path);
  let offset = 0;
  while (offset + 30 <= zip.length && zip.readUInt32LE(offset) === 0x04034b50) {
    const method = zip.readUInt16LE(offset + 8);
    let compressedSize = zip.readUInt32LE(offset + 18);
    const nameLength = zip.readUInt16LE(offset + 26);
    const extraLength = zip.readUInt16LE(offset + 28);
    const fileName = zip.toString('utf8', offset + 30, offset + 30 + nameLength);
    const dataStart = offset + 30 + nameLength + extraLength;
    if (compressedSize === 0xffffffff) throw new Error('zip64 entries are not supported');
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    if (fileName === name || fileName === `${name}.npy`) {
      const npy = method === 8 ? inflateRawSync(raw) : raw;
      return parseNpy(npy);
    }
    offset = dataStart + compressedSize;
  }
  throw new Error(`${name} not found in ${path}`);
}

function parseNpy(npy: Buffer): { shape: number[]; data: Float64Array } {
  const major = npy[6]!;
  const headerLength = major === 1 ? npy.readUInt16LE(8) : npy.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = npy.toString('latin1', headerStart, headerStart + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1]!;
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1]!.split(',').map((part) => part.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error('fortran order is not supported');
  const body = npy.subarray(headerStart + headerLength);
  const count = shape.reduce((product, dimension) => product * dimension, 1);
  const data = new Float64Array(count);
  for (let index = 0; index < count; index++) {
    if (descr === '<f4') data[index] = body.readFloatLE(index * 4);
    else if (descr === '<f8') data[index] = body.readDoubleLE(index * 8);
    else throw new Error(`dtype ${descr} is not supported`);
  }
  return { shape, data };
}
