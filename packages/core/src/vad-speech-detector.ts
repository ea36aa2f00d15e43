/**
 * The contract between the long-audio chunker and a voice activity detector. Silero VAD
 * (`createSileroDetector`) is the one that ships; tests use scripted ones.
 */

/** Sample rate every detector works at. */
export const VAD_SAMPLE_RATE = 16000;
/** Samples per detector window: 512 at 16 kHz, 32 ms. */
export const VAD_WINDOW_SAMPLES = 512;

/** One pass over one audio stream. The detector's recurrent state lives here, so streams never share it. */
export interface SpeechDetectorStream {
  /**
   * Speech probabilities, in [0, 1], for consecutive windows of the stream.
   *
   * `windows` holds one or more whole windows ({@link VAD_WINDOW_SAMPLES} samples each) that
   * follow the ones passed before; the result has one probability per window. The array
   * may be a view into a buffer the caller reuses: read it before the returned promise
   * settles and do not keep it.
   */
  process(windows: Float32Array): Promise<Float32Array> | Float32Array;
}

/** A voice activity detector: 16 kHz mono audio in, one speech probability per 32 ms window out. */
export interface SpeechDetector {
  /** Starts a stream with fresh state (zeros), as at the start of a file. */
  createStream(): SpeechDetectorStream;
}
