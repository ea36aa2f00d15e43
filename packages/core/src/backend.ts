/**
 * The Backend contract, version 1.
 *
 * A backend is one loaded (or loadable) model. Engines create backends; only the eviction
 * pool calls {@link BackendBase.load} and {@link BackendBase.dispose}. The server never
 * looks at an engine's name: it routes on {@link BackendBase.modality} and on the
 * capabilities declared here as data.
 *
 * The contract changes only in a major release of `@talkies/core`; a new version gets a
 * new `specificationVersion` literal.
 */
import type { TranscriptionResult, TranscriptionWord } from './transcription-result.js';

/** What an ASR backend can do. The server decides routing from these values alone. */
export interface AsrCapabilities {
  /** Word-level timestamps are produced when `timestamps` is requested. */
  wordTimestamps: boolean;
  /** Segment-level timestamps are produced when `timestamps` is requested. */
  segmentTimestamps: boolean;
  /**
   * The backend can emit partial results while audio streams in. When true on a loaded
   * backend that implements {@link AsrBackend.openStream}, live sessions come from the
   * model itself; otherwise a server emulates them by re-transcribing.
   */
  streaming: boolean;
  /** The backend can translate speech to English (`task: 'translate'`). */
  translation: boolean;
  /** ISO 639-1 codes the model understands, or `'any'`. */
  languages: readonly string[] | 'any';
  /**
   * The backend handles audio of any length itself. When false, core's VAD chunker cuts
   * long audio into pieces before calling {@link AsrBackend.transcribe}.
   */
  longForm: boolean;
  /**
   * Present when the backend implements {@link AsrBackend.transcribeBatch}: the number of
   * pieces it prefers per call (an integer of at least 1; it may change at `load()`).
   * Callers group pieces in batches of at most this size; a larger batch is still
   * accepted (the engine splits it). Absent: no batching, every piece goes to
   * {@link AsrBackend.transcribe} on its own.
   */
  maxBatchSize?: number;
}

/** What a TTS backend can do. */
export interface TtsCapabilities {
  /** {@link TtsBackend.synthesizeStream} yields audio before the whole text is spoken. */
  streaming: boolean;
  /** Languages the voices cover (ISO 639-1), or `'any'`. */
  languages: readonly string[] | 'any';
  /** `instructions` changes the output (false: accepted, ignored, warned about). */
  instructions: boolean;
}

/** Input to {@link AsrBackend.transcribe}. */
export interface TranscribeRequest {
  /** Mono PCM, float32 in [-1, 1]. */
  audio: Float32Array;
  /** Always 16000 today; backends should still read it rather than assume. */
  sampleRate: number;
  /** Source-language hint (ISO 639-1); undefined asks the model to detect it. */
  language?: string;
  /** `transcribe` keeps the spoken language; `translate` produces English. */
  task: 'transcribe' | 'translate';
  /** Whether segment and word timestamps are wanted (false lets engines skip work). */
  timestamps: boolean;
  /** Previous-context prompt, for engines that support one. */
  prompt?: string;
  /** Sampling temperature, for engines that support one. */
  temperature?: number;
  /** Aborted when the client goes away; engines should stop as soon as they can. */
  signal: AbortSignal;
}

/** Input to {@link AsrBackend.openStream}. */
export interface AsrStreamOptions {
  /** Sample rate of the PCM that will be fed. Always 16000 today; read it rather than assume. */
  sampleRate: number;
  /** Language to pin (ISO 639-1 or a locale the model knows); undefined lets the model choose. */
  language?: string;
  /**
   * Aborted when the client goes away. The session then releases its native state as soon
   * as the call in progress returns, and later calls reject with an `ABORTED` SpeechError.
   */
  signal: AbortSignal;
}

/** A turn-taking signal from a streaming model. */
export interface AsrStreamEvent {
  /**
   * `end-of-utterance`: the speaker finished a complete utterance (a voice agent may answer).
   * `backchannel`: a short acknowledgment such as "uh-huh" ended; not a change of turn.
   */
  type: 'end-of-utterance' | 'backchannel';
  /** Seconds from the start of the stream, where the model reports it. */
  time?: number;
}

/** What one {@link AsrStreamSession.feed} or {@link AsrStreamSession.finalize} call produced. */
export interface AsrStreamUpdate {
  /**
   * Text finalized since the previous call, `''` when nothing new. Finalized text never
   * changes afterwards: the transcript is the concatenation of every update's text.
   */
  text: string;
  /** The words of `text`, with times in seconds from the start of the stream, where the engine gives them (else empty). */
  words: TranscriptionWord[];
  /** Turn-taking events that fired during the call, in order. */
  events: AsrStreamEvent[];
}

/**
 * A live transcription session from {@link AsrBackend.openStream}. Calls are served one
 * at a time in the order they are made (an engine may bind a session to one thread).
 * A session holds native state: end it with {@link AsrStreamSession.close}, also when it
 * is abandoned half-way.
 */
export interface AsrStreamSession {
  /** Feed the next block of mono PCM in [-1, 1]. Any length: the engine splits large blocks. */
  feed(audio: Float32Array): Promise<AsrStreamUpdate>;
  /** Flush the audio still buffered and return the last text. Feeding afterwards rejects. */
  finalize(): Promise<AsrStreamUpdate>;
  /** Release the session (idempotent; safe before or after finalize, and while a call runs). */
  close(): Promise<void>;
}

/** A block of synthesised audio: mono float32 PCM in [-1, 1]. */
export interface SpeechAudio {
  samples: Float32Array;
  sampleRate: number;
}

/** Input to {@link TtsBackend.synthesize}. */
export interface SynthesizeRequest {
  text: string;
  /** A voice id from {@link TtsBackend.voices}; the pool fills in the default. */
  voice: string;
  /** Playback rate, 0.25 to 4.0, 1 is normal. */
  speed: number;
  /** Language hint for multilingual voices. */
  language?: string;
  /** Free-text style instructions (ignored by engines whose capability says so). */
  instructions?: string;
  /**
   * The request's fields beyond the OpenAI speech request, as the client sent them (for
   * example Qwen3-TTS's sampling fields, sent through `extra_body`). Untrusted: an engine
   * that reads any validates them with its own schema and answers VALIDATION_FAILED (422)
   * naming the field and its range; engines ignore what they do not know.
   */
  extra?: Readonly<Record<string, unknown>>;
  signal: AbortSignal;
}

/** The result of {@link TtsBackend.synthesize}. */
export interface SynthesizeResult extends SpeechAudio {
  warnings?: string[];
}

/** One entry of a TTS voice catalog. */
export interface VoiceInfo {
  /** The id a client passes as `voice`. */
  id: string;
  /** Human-readable name. */
  name?: string;
  /** Language (ISO 639-1 or BCP 47) the voice speaks. */
  language?: string;
  /** `builtin` for catalog voices, `custom` for user-provided ones. */
  origin?: 'builtin' | 'custom';
}

interface BackendBase {
  /** Literal discriminator of the contract version. */
  readonly specificationVersion: 'v1';
  /**
   * Prepare the model: read files, create inference sessions. Called by the pool before
   * any transcribe/synthesize call, and again after a dispose() when the model is needed
   * again. Metadata (modality, capabilities, voices) is readable without loading.
   */
  load(): Promise<void>;
  /** Release every native session and file handle. Called by the pool only, when no request is running. */
  dispose(): Promise<void>;
  /** Default number of requests this backend serves at once (models.json may override). */
  readonly defaultConcurrency?: number;
}

/** A speech-to-text backend. */
export interface AsrBackend extends BackendBase {
  readonly modality: 'asr';
  readonly capabilities: AsrCapabilities;
  transcribe(request: TranscribeRequest): Promise<TranscriptionResult>;
  /**
   * Optional: open a live session on the loaded model, for engines whose models decode
   * incrementally (cache-aware streaming). Present does not mean every model can: a model
   * that cannot rejects with an `UNSUPPORTED_CAPABILITY` SpeechError, and
   * `capabilities.streaming` says which. The caller keeps the model leased while a
   * session is open; `dispose()` closes any session still open.
   */
  openStream?(options: AsrStreamOptions): Promise<AsrStreamSession>;
  /**
   * Optional: transcribe several independent pieces in one call (batched inference: one
   * encoder run and one decoder step serve all of them). Declared by
   * {@link AsrCapabilities.maxBatchSize}.
   *
   * Returns one promise per request, in the order of `requests`, synchronously (the
   * method itself never throws). Promise `i` settles exactly as `transcribe(requests[i])`
   * would: with an equal result for deterministic decoding (temperature 0, greedy: same
   * text, language, segments with their times and tokens, words), or with that request's
   * own error. A piece may settle as soon as it is done, before the others. Requests may
   * differ in every field (language, task, prompt, timestamps, temperature, signal):
   * a request whose signal aborts rejects with `ABORTED` and leaves the batch; the others
   * go on undisturbed. An empty array gives an empty array.
   */
  transcribeBatch?(requests: readonly TranscribeRequest[]): Array<Promise<TranscriptionResult>>;
}

/** A text-to-speech backend. */
export interface TtsBackend extends BackendBase {
  readonly modality: 'tts';
  readonly capabilities: TtsCapabilities;
  /** The voice used when a request names none. */
  readonly defaultVoice: string;
  /** The voice catalog; may be re-read on every call (custom voices appear live). */
  voices(): Promise<VoiceInfo[]>;
  /**
   * Optional: accept or refuse a voice id, for engines whose valid voices are more than
   * the catalog lists (variants, blends). Throws a 400 SpeechError that lists voices.
   * Without it the server checks membership in {@link TtsBackend.voices}.
   */
  validateVoice?(voice: string): Promise<void>;
  /** Speak the whole text and return it as one block. */
  synthesize(request: SynthesizeRequest): Promise<SynthesizeResult>;
  /**
   * Optional: speak the text piece by piece (for example sentence by sentence), yielding
   * each block as soon as it is ready. Stops when `signal` aborts.
   */
  synthesizeStream?(request: SynthesizeRequest): AsyncIterable<SpeechAudio>;
}

export type Backend = AsrBackend | TtsBackend;
export type Modality = Backend['modality'];
