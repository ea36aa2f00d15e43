/**
 * The Whisper-shaped transcription result every ASR backend returns. Times are seconds on
 * the timeline of the audio the backend was given.
 */

/** One timed word. */
export interface TranscriptionWord {
  word: string;
  start: number;
  end: number;
  /** Engine confidence in [0, 1], where the engine computes one. */
  confidence?: number;
  /** `L`/`R` (or a speaker label) when the result comes from stereo diarization. */
  channel?: string;
}

/** One segment, in Whisper's verbose_json shape. Optional fields render as their defaults. */
export interface TranscriptionSegment {
  id: number;
  /** Whisper's seek offset in frames; 0 for engines without one. */
  seek?: number;
  start: number;
  end: number;
  /** Segment text as the engine produced it (Whisper keeps a leading space). */
  text: string;
  tokens?: number[];
  temperature?: number;
  avg_logprob?: number | null;
  compression_ratio?: number | null;
  no_speech_prob?: number | null;
  channel?: string;
}

export interface TranscriptionResult {
  /** The whole transcript. */
  text: string;
  /** Detected or requested language (ISO 639-1 where known). */
  language?: string;
  /** Seconds of audio transcribed. */
  duration?: number;
  segments: TranscriptionSegment[];
  words: TranscriptionWord[];
  /** Notes for the caller, e.g. options the engine ignored. */
  warnings?: string[];
}
