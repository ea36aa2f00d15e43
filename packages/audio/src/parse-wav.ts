import { SpeechError } from '@talkies/core';

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Typed arrays use the host's byte order; WAV samples are little-endian. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** What the header of a RIFF/WAVE stream says about the samples that follow it. */
export interface WavHeaderInfo {
  /** 1 (integer PCM) or 3 (IEEE float), with WAVE_FORMAT_EXTENSIBLE resolved. */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Where the sample bytes start. */
  dataOffset: number;
  /** The size field of the data chunk; writers that cannot seek put 0 or 0xffffffff here. */
  declaredDataBytes: number;
  /** The format tag as written (0xfffe for WAVE_FORMAT_EXTENSIBLE, which `format` resolves). */
  formatTag: number;
  /** The size of the fmt chunk: 16, 18 (with cbSize), 40 (extensible), … */
  fmtBytes: number;
  /** cbSize, the length of the format's extension, when the fmt chunk has that field. */
  extensionBytes: number | undefined;
  blockAlign: number;
  /** Bytes per second, as the header says. */
  byteRate: number;
  /** The chunks before the data chunk, in file order: how strict readers tell a plain file. */
  chunks: Array<{ id: string; size: number }>;
}

function invalid(reason: string): SpeechError {
  return new SpeechError('AUDIO_DECODE_FAILED', `not a readable WAV file: ${reason}; send 8/16/24/32-bit PCM or float WAV`);
}

/**
 * Parses the header of a RIFF/WAVE file from its first bytes. Returns undefined while more
 * bytes are needed to reach the data chunk (for parsing a stream as it arrives).
 */
export function parseWavHeader(bytes: Uint8Array): WavHeaderInfo | undefined {
  if (bytes.byteLength < 12) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset: number) => String.fromCharCode(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw invalid('no RIFF/WAVE signature');
  let format: Omit<WavHeaderInfo, 'dataOffset' | 'declaredDataBytes' | 'chunks'> | undefined;
  const chunks: WavHeaderInfo['chunks'] = [];
  let offset = 12;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'data') {
      if (!format) throw invalid('data chunk before fmt chunk');
      return { ...format, dataOffset: body, declaredDataBytes: size, chunks };
    }
    if (body + size > bytes.byteLength) return undefined;
    chunks.push({ id, size });
    if (id === 'fmt ') {
      if (size < 16) throw invalid('fmt chunk too short');
      const formatTag = view.getUint16(body, true);
      const resolved = formatTag === FORMAT_EXTENSIBLE && size >= 26 ? view.getUint16(body + 24, true) : formatTag;
      format = {
        format: resolved,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bitsPerSample: view.getUint16(body + 14, true),
        formatTag,
        fmtBytes: size,
        extensionBytes: size >= 18 ? view.getUint16(body + 16, true) : undefined,
        blockAlign: view.getUint16(body + 12, true),
        byteRate: view.getUint32(body + 8, true),
      };
      if (format.channels === 0 || format.sampleRate === 0) throw invalid('zero channels or sample rate');
      const supported =
        (format.format === FORMAT_PCM && [8, 16, 24, 32].includes(format.bitsPerSample)) ||
        (format.format === FORMAT_FLOAT && format.bitsPerSample === 32);
      if (!supported) throw invalid(`unsupported sample format ${resolved} with ${format.bitsPerSample} bits`);
    }
    // Chunks are padded to an even size.
    offset = body + size + (size % 2);
  }
  return undefined;
}

/** Converts complete frames of little-endian sample bytes to float32 in [-1, 1]. */
export function wavSamplesToFloat(bytes: Uint8Array, header: Pick<WavHeaderInfo, 'format' | 'bitsPerSample'>): Float32Array {
  const bytesPerSample = header.bitsPerSample / 8;
  const count = Math.floor(bytes.byteLength / bytesPerSample);
  const output = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (header.format === FORMAT_FLOAT) {
    if (bytes.byteOffset % 4 === 0) output.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    else for (let index = 0; index < count; index++) output[index] = view.getFloat32(index * 4, true);
  } else if (header.bitsPerSample === 16) {
    // x / 32768 is exact in float32, as ffmpeg's s16 to float conversion (x * 2^-15) is.
    if (LITTLE_ENDIAN_HOST && bytes.byteOffset % 2 === 0) {
      const values = new Int16Array(bytes.buffer, bytes.byteOffset, count);
      for (let index = 0; index < count; index++) output[index] = values[index] / 32768;
    } else {
      for (let index = 0; index < count; index++) output[index] = view.getInt16(index * 2, true) / 32768;
    }
  } else if (header.bitsPerSample === 8) {
    for (let index = 0; index < count; index++) output[index] = (bytes[index] - 128) / 128;
  } else if (header.bitsPerSample === 24) {
    for (let index = 0; index < count; index++) {
      const at = index * 3;
      const value = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
      output[index] = ((value << 8) >> 8) / 8388608;
    }
  } else {
    for (let index = 0; index < count; index++) output[index] = view.getInt32(index * 4, true) / 2147483648;
  }
  return output;
}

/**
 * Reads a whole WAV file held in memory. Multichannel samples come back interleaved. The
 * data size field is trusted only when it fits: espeak-ng's `--stdout` and other writers
 * that cannot seek leave 0 or 0x7fffffff there, so the real byte length wins.
 */
export function parseWav(bytes: Uint8Array): { samples: Float32Array; sampleRate: number; channels: number } {
  const header = parseWavHeader(bytes);
  if (!header) throw invalid('truncated before the data chunk');
  const available = bytes.byteLength - header.dataOffset;
  const declared = header.declaredDataBytes;
  const dataBytes = declared === 0 || declared > available ? available : declared;
  const frameBytes = header.channels * (header.bitsPerSample / 8);
  const usable = dataBytes - (dataBytes % frameBytes);
  const samples = wavSamplesToFloat(bytes.subarray(header.dataOffset, header.dataOffset + usable), header);
  return { samples, sampleRate: header.sampleRate, channels: header.channels };
}
