/**
 * Test access to ../shared (real recordings and Whisper's reference assets). A user's
 * clone has no ../shared: tests that need it skip with a message instead of failing.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { sharedDirectory } from '@talkies/testkit';

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export { audioDirectory, hasShared, readJfk, readWav, sharedDirectory } from '@talkies/testkit';
export const whisperAssetsDirectory = join(sharedDirectory, 'whisper-assets');

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
