/**
 * The fast path for plain 16-bit PCM WAV: most uploads are exactly that, already at the
 * model's rate, and for them ffprobe and ffmpeg (about 0.12 s of CPU each per 30 s file)
 * only read the header and convert s16 to float (x / 32768, exact). This module does that
 * in JavaScript, and only where the result is ffmpeg's own, bit for bit (the tests compare
 * both on the real ffmpeg):
 *
 * - the file is one RIFF/WAVE with one `fmt ` chunk (PCM, 16 bits, 16 bytes or 18 with
 *   cbSize 0, block align and byte rate consistent), only `LIST`/`JUNK` chunks beside it,
 *   and one data chunk whose declared size is a whole number of frames and ends exactly at
 *   the end of the file (one stray byte after it is allowed: ffmpeg finds no chunk there).
 *   With a second data chunk ffmpeg reads only the last one of a file but all of them
 *   from a pipe (measured); it reads to the end of the input when the size is 0 or
 *   0xffffffff, and past a size that lies. All of those, every other chunk and every other
 *   format go to ffmpeg;
 * - nothing in the first bytes makes ffmpeg read it as something else: the ACT demuxer's
 *   signature (a WAV header followed by its marker, which outscores WAV), or a compressed
 *   stream carried as PCM (S/PDIF, AC-3, DTS, MP3, AAC, TrueHD: wav-payload-sniff.ts),
 *   which ffmpeg's wav demuxer and codec probe look for in the first 128 KiB of data;
 * - the sample rate is the one the caller decodes at (no resampling here).
 *
 * ffmpeg's format probe could in principle also prefer another demuxer for a file built
 * to look like two formats at once (a WAV header followed by MPEG-TS packets, say); such
 * a file would be read here as the PCM its header declares.
 *
 * Anything else, and anything that changed between the probe and the decode, takes the
 * ffprobe/ffmpeg path as before. `TALKIES_WAV_FAST_PATH=off` sends everything there.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { SpeechError } from '@talkies/core';
import { MAX_SOURCE_CHANNELS, SOURCE_SAMPLE_RATE_LIMITS } from './input-policy.js';
import { parseWavHeader, wavSamplesToFloat } from './parse-wav.js';
import type { AudioInfo } from './probe-audio.js';
import { mayHoldCompressedAudio } from './wav-payload-sniff.js';

/** The header (up to the data chunk) must lie within the first this many bytes. */
const HEAD_BYTES = 64 * 1024;
/** How much of the data ffmpeg inspects for compressed payloads (codec probe: 32 packets of 4 KiB). */
const SNIFF_BYTES = 128 * 1024;
/** The decode reads the file this many bytes at a time (rounded down to whole frames). */
const BLOCK_BYTES = 256 * 1024;
const PCM = 1;

/** Where the samples of a plain 16-bit PCM WAV are. */
export interface PlainWav {
  channels: number;
  sampleRate: number;
  dataOffset: number;
  dataBytes: number;
  totalBytes: number;
}

/** How often each path ran (for tests and benchmarks: which path served a request). */
export const wavFastPathCounts = { probes: 0, decodes: 0 };

/** False when `TALKIES_WAV_FAST_PATH` is `off` (or `0`, `false`): ffprobe/ffmpeg read every input. */
export function wavFastPathEnabled(): boolean {
  const value = process.env.TALKIES_WAV_FAST_PATH?.trim().toLowerCase();
  return !(value === 'off' || value === '0' || value === 'false');
}

/** ffmpeg's ACT demuxer claims a WAV header followed by zeros and its 0x84 marker, outscoring WAV. */
function looksLikeAct(head: Uint8Array, totalBytes: number): boolean {
  if (totalBytes < 512 || head.length < 512) return false;
  if (head[16] !== 16 || head[17] !== 0 || head[18] !== 0 || head[19] !== 0) return false;
  for (let index = 44; index < 256; index++) if (head[index] !== 0) return false;
  if (head[256] !== 0x84) return false;
  for (let index = 264; index < 512; index++) if (head[index] !== 0) return false;
  return true;
}

/**
 * Reads `head` (the first bytes of an input of `totalBytes`) strictly: the layout of a
 * plain 16-bit PCM WAV that ffmpeg would read exactly so, or undefined for anything else.
 * `head` must hold the first min(totalBytes, HEAD_BYTES + SNIFF_BYTES) bytes.
 */
export function plainPcm16Wav(head: Uint8Array, totalBytes: number): PlainWav | undefined {
  let header;
  try {
    header = parseWavHeader(head.subarray(0, HEAD_BYTES));
  } catch {
    return undefined; // not RIFF/WAVE, or a format this parser does not read: ffprobe says what it is
  }
  if (!header) return undefined;
  const { channels, sampleRate, dataOffset, declaredDataBytes: dataBytes } = header;
  const fmtChunks = header.chunks.filter((chunk) => chunk.id === 'fmt ').length;
  // LIST (metadata, at least its 4-byte type: ffmpeg refuses a shorter one) and JUNK are
  // skipped by ffmpeg; fact, bext, ID3, SMV0, XMA2 and unknown chunks change or may change
  // what it reports, so they take the ffmpeg path.
  const otherChunksPlain = header.chunks.every(
    (chunk) => chunk.id === 'fmt ' || chunk.id === 'JUNK' || (chunk.id === 'LIST' && chunk.size >= 4),
  );
  const plainFormat =
    header.formatTag === PCM &&
    header.bitsPerSample === 16 &&
    (header.fmtBytes === 16 || (header.fmtBytes === 18 && header.extensionBytes === 0)) &&
    channels >= 1 &&
    channels <= MAX_SOURCE_CHANNELS &&
    header.blockAlign === channels * 2 &&
    sampleRate >= SOURCE_SAMPLE_RATE_LIMITS.min &&
    sampleRate <= SOURCE_SAMPLE_RATE_LIMITS.max &&
    header.byteRate === sampleRate * channels * 2;
  const dataEnd = dataOffset + dataBytes;
  const plainData =
    dataBytes > 0 &&
    dataBytes !== 0xffffffff &&
    dataBytes % header.blockAlign === 0 &&
    (dataEnd === totalBytes || dataEnd + 1 === totalBytes);
  if (fmtChunks !== 1 || !otherChunksPlain || !plainFormat || !plainData) return undefined;
  if (looksLikeAct(head, totalBytes)) return undefined;
  if (mayHoldCompressedAudio(head.subarray(0, Math.min(head.length, dataOffset + SNIFF_BYTES)), dataOffset)) return undefined;
  return { channels, sampleRate, dataOffset, dataBytes, totalBytes };
}

/** Reads until `target` is full or the file ends; returns the bytes read. */
async function readFully(file: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let filled = 0;
  while (filled < target.length) {
    const { bytesRead } = await file.read(target, filled, target.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** An opened input whose layout was checked, ready to be read in blocks. */
interface Source {
  layout: PlainWav;
  /** Fills `target` from `position`; returns how many bytes it read. */
  read(target: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens `input` and checks its layout; undefined (nothing left open) when it is not a plain
 * WAV or cannot be opened: the ffmpeg path then reports what is wrong as it always did.
 */
async function openSource(input: string | Uint8Array): Promise<Source | undefined> {
  if (input instanceof Uint8Array) {
    const layout = plainPcm16Wav(input.subarray(0, HEAD_BYTES + SNIFF_BYTES), input.byteLength);
    if (!layout) return undefined;
    return {
      layout,
      read: async (target, position) => {
        const bytes = input.subarray(position, position + target.length);
        target.set(bytes);
        return bytes.length;
      },
      close: async () => {},
    };
  }
  let file: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore it).
    file = await open(input, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile() || stats.size === 0) {
      await file.close();
      return undefined;
    }
    const head = new Uint8Array(Math.min(stats.size, HEAD_BYTES + SNIFF_BYTES));
    const filled = await readFully(file, head, 0);
    const layout = plainPcm16Wav(head.subarray(0, filled), stats.size);
    if (!layout) {
      await file.close();
      return undefined;
    }
    return { layout, read: (target, position) => readFully(file, target, position), close: () => file.close() };
  } catch {
    await file.close().catch(() => {});
    return undefined;
  }
}

/** Formats like C's printf("%f"): six decimals, an exact tie rounds to even (ffprobe prints durations so). */
function printfFixed6(value: number): string {
  const exact = value.toFixed(100);
  const point = exact.indexOf('.');
  const rest = exact.slice(point + 7);
  if (!/^50*$/.test(rest)) return value.toFixed(6);
  const truncated = exact.slice(0, point + 7);
  const lastDigit = Number(truncated[truncated.length - 1]);
  // An exact tie: toFixed rounds it up; printf keeps an even last digit.
  return lastDigit % 2 === 0 ? truncated : value.toFixed(6);
}

interface FastProbe {
  input: string | Uint8Array;
  layout: PlainWav;
}

/** Probes answered here, by the AudioInfo object handed out (the decode looks its layout up). */
const fastProbes = new WeakMap<AudioInfo, FastProbe>();

/**
 * What ffprobe would say about a plain 16-bit PCM WAV at `sampleRate`, read here; undefined
 * for anything else (the caller then runs ffprobe).
 */
export async function probePlainWav(input: string | Uint8Array, sampleRate: number): Promise<AudioInfo | undefined> {
  if (!wavFastPathEnabled()) return undefined;
  const source = await openSource(input);
  if (!source) return undefined;
  await source.close();
  const { layout } = source;
  if (layout.sampleRate !== sampleRate) return undefined;
  const frames = layout.dataBytes / (layout.channels * 2);
  const info: AudioInfo = {
    format: 'wav',
    channels: layout.channels,
    // ffprobe prints the stream duration (frames × 1/rate, in doubles) with six decimals.
    // For piped bytes ffmpeg cannot see where the input ends and says nothing.
    duration: typeof input === 'string' ? Number.parseFloat(printfFixed6(frames * (1 / layout.sampleRate))) : null,
    codec: 'pcm_s16le',
    sampleFormat: 's16',
    sampleRate: layout.sampleRate,
  };
  fastProbes.set(info, { input, layout });
  wavFastPathCounts.probes++;
  return info;
}

function sameLayout(first: PlainWav, second: PlainWav): boolean {
  return (
    first.channels === second.channels &&
    first.sampleRate === second.sampleRate &&
    first.dataOffset === second.dataOffset &&
    first.dataBytes === second.dataBytes &&
    first.totalBytes === second.totalBytes
  );
}

/** A plain WAV opened for decoding: its channel count and its samples, interleaved, in blocks. */
export interface PlainWavReader {
  channels: number;
  /** Interleaved float32 blocks of whole frames; aborting `signal` rejects with ABORTED. */
  blocks(signal?: AbortSignal): AsyncGenerator<Float32Array, void, undefined>;
  close(): Promise<void>;
}

/**
 * Opens `input` for the fast decode when `info` came from {@link probePlainWav} for this
 * same input, at this `sampleRate`, and the input still has the layout the probe saw (the
 * file is read again: it may have been replaced since). Otherwise undefined: use ffmpeg.
 */
export async function openPlainWav(input: string | Uint8Array, info: AudioInfo, sampleRate: number): Promise<PlainWavReader | undefined> {
  const probe = fastProbes.get(info);
  if (!probe || probe.input !== input || probe.layout.sampleRate !== sampleRate || !wavFastPathEnabled()) return undefined;
  const opened = await openSource(input);
  if (!opened) return undefined;
  if (!sameLayout(opened.layout, probe.layout)) {
    await opened.close();
    return undefined;
  }
  const source: Source = opened;
  wavFastPathCounts.decodes++;
  const { layout } = source;
  const frameBytes = layout.channels * 2;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await source.close();
  };
  async function* blocks(signal?: AbortSignal): AsyncGenerator<Float32Array, void, undefined> {
    // One buffer for every read: memory stays at one block of bytes and the block handed out.
    const buffer = new Uint8Array(Math.floor(BLOCK_BYTES / frameBytes) * frameBytes);
    const end = layout.dataOffset + layout.dataBytes;
    try {
      for (let position = layout.dataOffset; position < end; ) {
        if (signal?.aborted || closed) break;
        const wanted = Math.min(buffer.length, end - position);
        const read = await source.read(buffer.subarray(0, wanted), position);
        // A file cut short since it was opened ends the audio there, as it would for ffmpeg.
        const usable = read - (read % frameBytes);
        if (usable > 0) yield wavSamplesToFloat(buffer.subarray(0, usable), { format: PCM, bitsPerSample: 16 });
        if (read < wanted) break;
        position += read;
      }
      if (signal?.aborted) throw new SpeechError('ABORTED', 'decoding was stopped because the request was aborted');
    } finally {
      await close();
    }
  }
  return { channels: layout.channels, blocks, close };
}
