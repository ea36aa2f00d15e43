/**
 * What ffmpeg and ffprobe may open when they read an input for us: the one input they were
 * handed, and nothing it points at.
 *
 * ffmpeg's demuxers pick themselves by content, and some of them read other files or URLs
 * named inside the input: HLS and DASH playlists, concat/ffconcat lists, SDP (network
 * sockets), IMF compositions, image sequences. An upload that is such a list would make
 * the server read whatever it names. Two ffmpeg whitelists close that, on every probe and
 * every decode:
 *
 * - `-format_whitelist` with an allow-list of audio and video containers. ffmpeg probes
 *   the input's format first and checks the whitelist before the demuxer reads its
 *   header, so a refused demuxer never opens anything. An allow-list, not a list of the
 *   demuxers known to be dangerous: a future ffmpeg may add a new one that reads other
 *   inputs, and it will be refused until someone adds it here on purpose.
 * - `-protocol_whitelist` with the single protocol of the input (`file` for a path, `pipe`
 *   for bytes and streams): no http, tcp, data, subfile, concat protocol or any other
 *   way to reach beyond the input, should an allowed demuxer ever try.
 *
 * The decode then forces (`-f`) the demuxer the probe found, so a file replaced between
 * the probe and the decode cannot switch to another demuxer.
 */
import { SpeechError } from '@talkies/core';

/**
 * Demuxers allowed to read an input: containers of audio (and of video with sound) that
 * hold their media themselves. The names are ffmpeg's; a name matches a demuxer whose
 * name list contains it (`mov` is `mov,mp4,m4a,3gp,3g2,mj2`, `matroska` covers webm).
 */
export const ALLOWED_DEMUXERS = [
  'wav', 'w64', 'aiff', 'au', 'caf', 'voc', 'ircam',
  'mp3', 'aac', 'loas', 'ac3', 'eac3', 'dts', 'dtshd', 'truehd', 'mlp',
  'flac', 'ogg', 'wv', 'ape', 'tta', 'tak', 'shn', 'mpc', 'mpc8', 'dsf',
  'amr', 'amrnb', 'amrwb', 'gsm', 'xwma',
  'matroska', 'mov', 'asf', 'avi', 'flv', 'mpegts', 'mpeg', 'rm', 'nut',
] as const;

/** Demuxers that open further inputs named inside the one they read. */
export const REFERENCE_DEMUXERS = new Set([
  'hls', 'applehttp', 'dash', 'webm_dash_manifest', 'concat', 'imf', 'sdp', 'rtsp', 'rtp',
  'image2', 'avisynth', 'vapoursynth',
]);

/** Sources with fewer or more samples per second than this are refused before decoding. */
export const SOURCE_SAMPLE_RATE_LIMITS = { min: 1000, max: 768_000 } as const;

/** The rate everything is decoded at unless the caller asks for another: the speech models' own. */
export const DEFAULT_SAMPLE_RATE = 16000;

/** Sources with more channels than this are refused before decoding. */
export const MAX_SOURCE_CHANNELS = 32;

/** The input arguments of ffmpeg/ffprobe for `argument` (`file:/…` or `pipe:0`). */
export function inputArguments(argument: string, demuxer?: string): string[] {
  const protocol = argument.startsWith('file:') ? 'file' : 'pipe';
  return [
    '-protocol_whitelist', protocol,
    '-format_whitelist', ALLOWED_DEMUXERS.join(','),
    ...(demuxer ? ['-f', demuxer] : []),
    '-i', argument,
  ];
}

/**
 * The message a client sees when ffmpeg could not read its audio. ffmpeg's own words stay
 * in the server log (as the error's cause): they name paths and heap addresses, and tell
 * an attacker whether a file exists.
 */
export function undecodableError(tool: string, stderrTail: string): SpeechError {
  return new SpeechError(
    'AUDIO_DECODE_FAILED',
    'audio could not be decoded; send a complete audio or video file (wav, mp3, ogg, opus, flac, m4a, webm, …)',
    { cause: new Error(`${tool}: ${stderrTail}`) },
  );
}

export function noAudioStreamError(tool: 'ffmpeg' | 'ffprobe'): SpeechError {
  return new SpeechError('AUDIO_DECODE_FAILED', `${tool}: no audio stream in upload; send a file with an audio track`);
}

/** The 400 for an input whose format ffmpeg recognised (as `demuxer`, when known) but talkies does not read. */
export function refusedFormatError(demuxer: string | undefined, stderrTail: string): SpeechError {
  const cause = new Error(`ffmpeg: ${stderrTail}`);
  if (demuxer === undefined) {
    return new SpeechError(
      'AUDIO_DECODE_FAILED',
      'input refused: its format is not an audio format talkies reads (playlists and lists of other files never are); send wav, mp3, ogg, opus, flac, m4a, webm or another audio container',
      { cause },
    );
  }
  const names = demuxer.split(',');
  if (names.some((name) => REFERENCE_DEMUXERS.has(name))) {
    return new SpeechError(
      'AUDIO_DECODE_FAILED',
      `input refused: it is a '${demuxer}' file, which points at other files or URLs; talkies reads only the file it is sent, never playlists or lists. Send the audio itself`,
      { cause },
    );
  }
  return new SpeechError(
    'AUDIO_DECODE_FAILED',
    `input refused: '${demuxer}' is not an audio format talkies reads; send wav, mp3, ogg, opus, flac, m4a, webm or another audio container`,
    { cause },
  );
}
