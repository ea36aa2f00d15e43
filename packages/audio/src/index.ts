export { AUDIO_CONTENT_TYPES, AUDIO_FORMATS, isAudioFormat, type AudioFormat } from './audio-formats.js';
export { checkFfmpeg, ffmpegPath, ffprobePath, type FfmpegCheck } from './check-ffmpeg.js';
export type { AudioInput } from './run-process.js';
export { checkAudioHeader, probeAudio, tooLongError, type AudioInfo, type ProbeLimits } from './probe-audio.js';
export {
  ALLOWED_DEMUXERS,
  MAX_SOURCE_CHANNELS,
  REFERENCE_DEMUXERS,
  SOURCE_SAMPLE_RATE_LIMITS,
} from './input-policy.js';
export {
  decodeAudio,
  decodeAudioStream,
  decodeChannels,
  noSamplesError,
  openAudioStream,
  type DecodeOptions,
  type OpenedAudio,
  type StreamOptions,
  type DecodedAudio,
  type DecodedChannels,
} from './decode-audio.js';
export { encodeAudio, type PcmAudio } from './encode-audio.js';
export { atempoFilter, changeTempo } from './change-tempo.js';
export { floatToInt16, int16ToFloat } from './float-to-int16.js';
export { wavHeader } from './wav-header.js';
export { parseWav, parseWavHeader, type WavHeaderInfo } from './parse-wav.js';
export { GrowingBuffer, GrowingFloat32Array } from './growing-buffer.js';
export { encodeAudioStream, SpareEncoders, streamingWavHeader, type StreamEncodeOptions } from './encode-audio-stream.js';
export { launchProcess, startProcessLauncher, type LaunchedProcess, type LaunchOptions } from './process-launcher.js';
export { collectProcess, runProcess, type ProcessSpecification } from './run-process.js';
