/**
 * `@talkies/audio`: what engines and the server use of ffmpeg and espeak-ng. Everything
 * runs as a separate process started through a small launcher (see process-launcher.ts);
 * the launcher's protocol and the decode policy's internals stay private to this package.
 */
export { AUDIO_CONTENT_TYPES, AUDIO_FORMATS, isAudioFormat, type AudioFormat } from './audio-formats.js';
export { checkFfmpeg, type FfmpegCheck } from './check-ffmpeg.js';
export { probeAudio, type AudioInfo, type ProbeLimits, type ProbeOptions } from './probe-audio.js';
export { decodeAudio, openAudioStream, type DecodedAudio, type DecodeOptions, type OpenedAudio, type StreamOptions } from './decode-audio.js';
export { encodeAudio, type PcmAudio } from './encode-audio.js';
export { encodeAudioStream, SpareEncoders, type StreamEncodeOptions } from './encode-audio-stream.js';
export { changeTempo } from './change-tempo.js';
export { parseWav } from './parse-wav.js';
export { launchProcess, startProcessLauncher, type LaunchedProcess, type LaunchOptions } from './process-launcher.js';
export { collectProcess, type ProcessSpecification } from './run-process.js';
export type { AudioInput } from './run-process.js';
