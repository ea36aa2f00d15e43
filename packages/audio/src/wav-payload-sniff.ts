/**
 * Does the start of a 16-bit PCM WAV's data hold a compressed stream that ffmpeg would
 * decode instead of the PCM? ffmpeg's wav demuxer looks for IEC 61937 (S/PDIF) bursts in
 * the first 64 KiB of data, and then runs the probes of its raw audio demuxers (AC-3,
 * E-AC-3, DTS, MP3, ADTS AAC, LATM, TrueHD) over the first 32 packets (128 KiB): "DTS CD"
 * rips and AC-3 WAVs are read as what they carry. Measured on ffmpeg 5.1: AC-3 and DTS
 * are found in either byte order, the others as written.
 *
 * The checks here are looser than those probes (a "yes" only costs the ffmpeg path), and
 * strict enough that recorded audio, quiet noise included, does not trip them:
 * - a sync word of S/PDIF, TrueHD or MLP anywhere, or four DTS sync markers;
 * - frame headers that follow each other at their own frame lengths: from the start of
 *   the data (or its first non-zero byte) as many as ffmpeg's probes accept there (AC-3 4,
 *   MP3 7, ADTS and LATM 3), or more than 100 anywhere (they want 100 to 500);
 * - an ID3 tag at the start of the data (ffmpeg's probes skip one).
 * Without the CRC and sanity checks those probes add: more files are sent to ffmpeg than
 * it would read as compressed, never fewer.
 */

/** 4-byte sync words, any one of which sends the file to ffmpeg. */
const SYNC_WORDS = [
  [0x72, 0xf8, 0x1f, 0x4e], // IEC 61937 burst preamble Pa Pb, little-endian (set_spdif, spdif demuxer)
  [0xf8, 0x72, 0x6f, 0xba], // TrueHD major sync
  [0xf8, 0x72, 0x6f, 0xbb], // MLP major sync
];

/** DTS sync markers as ffmpeg's DTS probe counts them (it wants more than 3). */
function dtsMarker(bytes: Uint8Array, at: number): boolean {
  const word = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
  const next = (bytes[at + 4] << 8) | bytes[at + 5];
  if (word === 0x7ffe8001 || word === 0xfe7f0180) return true; // 16-bit, big- and little-endian
  if (word === 0x1fffe800) return at + 6 <= bytes.length && (next & 0xfff0) === 0x07f0; // 14-bit big-endian
  if (word === 0xff1f00e8) return at + 6 <= bytes.length && (next & 0xf0ff) === 0xf007; // 14-bit little-endian
  return false;
}

/** AC-3 bit rates in kbit/s by frmsizecod / 2. */
const AC3_BITRATES = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640];

/** MPEG audio bit rates in kbit/s: [MPEG-1 layer I, II, III, MPEG-2/2.5 layer I, II and III]. */
const MPEG_BITRATES = [
  [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];
const MPEG_SAMPLE_RATES = [44100, 48000, 32000];

/** A frame-length reader: the length of the frame whose header starts at `at`, or 0 for no header. */
type FrameLength = (bytes: Uint8Array, at: number) => number;

/** AC-3 and E-AC-3, in the byte order of the first two bytes (0B 77, or 77 0B swapped). */
function ac3FrameLength(bytes: Uint8Array, at: number, swapped: boolean): number {
  if (at + 6 > bytes.length) return 0;
  const byte = (index: number) => bytes[at + (swapped ? index ^ 1 : index)];
  if (byte(0) !== 0x0b || byte(1) !== 0x77) return 0;
  const bsid = byte(5) >> 3;
  if (bsid > 16) return 0;
  if (bsid > 10) return ((((byte(2) & 0x07) << 8) | byte(3)) + 1) * 2; // E-AC-3: frmsiz in words
  const fscod = byte(4) >> 6;
  const frmsizecod = byte(4) & 0x3f;
  if (fscod === 3 || frmsizecod > 37) return 0;
  const bitrate = AC3_BITRATES[frmsizecod >> 1];
  // Words per 1536-sample frame; 44.1 kHz alternates between two sizes (the low bit).
  const words = fscod === 0 ? bitrate * 2 : fscod === 2 ? bitrate * 3 : Math.floor((bitrate * 320) / 147) + (frmsizecod & 1);
  return words * 2;
}

const ac3Big: FrameLength = (bytes, at) => ac3FrameLength(bytes, at, false);
const ac3Swapped: FrameLength = (bytes, at) => ac3FrameLength(bytes, at, true);

const mpegFrameLength: FrameLength = (bytes, at) => {
  if (at + 4 > bytes.length || bytes[at] !== 0xff || (bytes[at + 1] & 0xe0) !== 0xe0) return 0;
  const version = (bytes[at + 1] >> 3) & 3; // 0 MPEG-2.5, 1 reserved, 2 MPEG-2, 3 MPEG-1
  const layer = 4 - ((bytes[at + 1] >> 1) & 3); // 4 is reserved
  const bitrateIndex = bytes[at + 2] >> 4;
  const rateIndex = (bytes[at + 2] >> 2) & 3;
  if (version === 1 || layer === 4 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return 0;
  const padding = (bytes[at + 2] >> 1) & 1;
  const mpeg1 = version === 3;
  const sampleRate = MPEG_SAMPLE_RATES[rateIndex] / (mpeg1 ? 1 : version === 2 ? 2 : 4);
  const bitrate = 1000 * MPEG_BITRATES[mpeg1 ? layer - 1 : layer === 1 ? 3 : 4][bitrateIndex];
  if (layer === 1) return (Math.floor((12 * bitrate) / sampleRate) + padding) * 4;
  return Math.floor(((layer === 3 && !mpeg1 ? 72 : 144) * bitrate) / sampleRate) + padding;
};

const adtsFrameLength: FrameLength = (bytes, at) => {
  if (at + 6 > bytes.length || bytes[at] !== 0xff || (bytes[at + 1] & 0xf6) !== 0xf0) return 0;
  const length = ((bytes[at + 3] & 0x03) << 11) | (bytes[at + 4] << 3) | (bytes[at + 5] >> 5);
  return length >= 7 ? length : 0;
};

const loasFrameLength: FrameLength = (bytes, at) => {
  if (at + 3 > bytes.length || bytes[at] !== 0x56 || bytes[at + 1] >> 5 !== 0x07) return 0;
  return (((bytes[at + 1] & 0x1f) << 8) | bytes[at + 2]) + 3;
};

/** Each frame format with the run of headers ffmpeg's probe accepts at the start of the data. */
const FRAME_RUNS: Array<[FrameLength, number]> = [
  [ac3Big, 4],
  [ac3Swapped, 4],
  [mpegFrameLength, 7],
  [adtsFrameLength, 3],
  [loasFrameLength, 3],
];

/** Anywhere in the data, ffmpeg's probes want more than 100 (LATM), 200 (AC-3, MP3) or 500 (ADTS) frames. */
const RUN_ANYWHERE = 101;

function frameRun(bytes: Uint8Array, start: number, frameLength: FrameLength, wanted: number): boolean {
  let at = start;
  for (let frames = 0; frames < wanted; frames++) {
    // A frame counts once its header is there, as in ffmpeg's probes, even if the buffer ends inside it.
    const length = frameLength(bytes, at);
    if (length === 0) return false;
    at += length;
  }
  return true;
}

/**
 * True when the data of a PCM WAV may hold a stream ffmpeg would decode instead. `bytes`
 * is the file from its first byte (ffmpeg's format probe sees the header too), at least
 * up to 128 KiB into the data, which starts at `dataOffset`.
 */
export function mayHoldCompressedAudio(bytes: Uint8Array, dataOffset: number): boolean {
  let firstNonZero = dataOffset;
  while (firstNonZero < bytes.length && bytes[firstNonZero] === 0) firstNonZero++;
  // ffmpeg's AC-3 probe steps over 16 bytes that begin 01 10 00 00 00 00 00 00.
  const starts = new Set([dataOffset, firstNonZero, dataOffset + 16]);
  for (const start of starts) {
    for (const [frameLength, wanted] of FRAME_RUNS) if (frameRun(bytes, start, frameLength, wanted)) return true;
  }
  if (bytes[dataOffset] === 0x49 && bytes[dataOffset + 1] === 0x44 && bytes[dataOffset + 2] === 0x33) return true; // "ID3"
  let dtsMarkers = 0;
  const runAnywhere = (at: number, frameLength: FrameLength) => at >= dataOffset && frameRun(bytes, at, frameLength, RUN_ANYWHERE);
  for (let at = 0; at + 3 < bytes.length; at++) {
    // Dispatch on the first byte of each sync word and frame header: most positions stop here.
    const first = bytes[at];
    const second = bytes[at + 1];
    if (first === 0xff) {
      if ((second & 0xe0) === 0xe0 && (runAnywhere(at, mpegFrameLength) || runAnywhere(at, adtsFrameLength))) return true;
      if (second === 0x1f && at >= dataOffset && dtsMarker(bytes, at) && ++dtsMarkers > 3) return true;
    } else if (first === 0x0b || first === 0x77) {
      if ((second === 0x77 || second === 0x0b) && (runAnywhere(at, ac3Big) || runAnywhere(at, ac3Swapped))) return true;
    } else if (first === 0x56) {
      if (runAnywhere(at, loasFrameLength)) return true;
    } else if (first === 0x72 || first === 0xf8) {
      for (const word of SYNC_WORDS) {
        if (first === word[0] && second === word[1] && bytes[at + 2] === word[2] && bytes[at + 3] === word[3]) return true;
      }
    } else if (first === 0x7f || first === 0xfe || first === 0x1f) {
      if (at >= dataOffset && dtsMarker(bytes, at) && ++dtsMarkers > 3) return true;
    }
  }
  return false;
}
