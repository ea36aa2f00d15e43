const HEADER_BYTES = 44;
const MAX_RIFF_SIZE = 0xffffffff;

/** A 44-byte RIFF/WAVE header for 16-bit PCM with `dataBytes` bytes of samples after it. */
export function wavHeader(dataBytes: number, sampleRate: number, channels = 1): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  const blockAlign = channels * 2;
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(Math.min(MAX_RIFF_SIZE, dataBytes + HEADER_BYTES - 8), 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(Math.min(MAX_RIFF_SIZE, dataBytes), 40);
  return header;
}

export const WAV_HEADER_BYTES = HEADER_BYTES;
